"""Log groups: create, describe, delete, retention and deletion protection, and finding the caller's group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.errors import AlreadyExists
from sagemill.services.clock import Clock
from sagemill.services.logs import tokens
from sagemill.services.logs.arns import group_arn, group_arn_wildcard, group_key_for
from sagemill.services.logs.errors import (
    deletion_protected,
    group_exists,
    group_not_found,
    invalid_parameter,
    invalid_token,
)
from sagemill.services.logs.retention import check_days
from sagemill.services.logs.tags import check_tags
from sagemill.store.logs import LogGroup, LogGroupKey, LogGroupQuery, LogStore

DEFAULT_LIMIT = 50
# Asking for either of these returns both (the two classes share one listing in AWS).
_CLASS_FAMILIES = {
    "INFREQUENT_ACCESS": ("INFREQUENT_ACCESS", "ESSENTIALS"),
    "ESSENTIALS": ("INFREQUENT_ACCESS", "ESSENTIALS"),
}


def now_ms(clock: Clock) -> int:
    return int(clock() * 1000)


def group_key(context: RequestContext, params: Mapping[str, Any]) -> LogGroupKey:
    """The group a request names by exactly one of logGroupName and logGroupIdentifier."""
    name = params.get("logGroupName")
    identifier = params.get("logGroupIdentifier")
    if name is not None and identifier is not None:
        raise invalid_parameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if name is not None:
        return LogGroupKey(context.account_id, context.region, name)
    if identifier is None:
        raise invalid_parameter("Either logGroupName or logGroupIdentifier must be specified.")
    key = group_key_for(context, identifier)
    if key is None:
        raise group_not_found()
    return key


def require_group(store: LogStore, context: RequestContext, params: Mapping[str, Any]) -> LogGroup:
    """The caller's group (without its storedBytes, which costs a sum over its streams)."""
    group = store.get_log_group(group_key(context, params), count_bytes=False)
    if group is None:
        raise group_not_found()
    return group


def describe(group: LogGroup, *, brief: bool = False) -> dict[str, Any]:
    """The wire LogGroup; `brief` is the three-member form a logGroupNamePattern listing returns."""
    out: dict[str, Any] = {
        "logGroupName": group.key.name,
        "creationTime": group.created_ms,
        "arn": group_arn_wildcard(group.key),
    }
    if brief:
        return out
    out.update(
        metricFilterCount=0,
        storedBytes=group.stored_bytes,
        logGroupClass=group.log_group_class,
        logGroupArn=group_arn(group.key),
        deletionProtectionEnabled=group.deletion_protection,
    )
    if group.retention_days is not None:
        out["retentionInDays"] = group.retention_days
    if group.kms_key_id:
        out["kmsKeyId"] = group.kms_key_id
    return out


def _listing(context: RequestContext, params: Mapping[str, Any]) -> tuple[LogGroupQuery, dict[str, Any]]:
    """The store query for a DescribeLogGroups request, and what binds its tokens to it."""
    prefix = params.get("logGroupNamePrefix")
    pattern = params.get("logGroupNamePattern")
    identifiers = params.get("logGroupIdentifiers")
    group_class = params.get("logGroupClass")
    if prefix is not None and pattern is not None:
        raise invalid_parameter(
            "logGroupNamePrefix and logGroupNamePattern are mutually exclusive parameters."
        )
    if identifiers is not None and (prefix is not None or pattern is not None or group_class is not None):
        raise invalid_parameter(
            "logGroupIdentifiers cannot be combined with logGroupNamePrefix, logGroupNamePattern or "
            "logGroupClass."
        )
    names: tuple[str, ...] | None = None
    if identifiers is not None:
        keys = [group_key_for(context, i) for i in identifiers]
        names = tuple(sorted({k.name for k in keys if k is not None}))
    binding = {
        "o": "DescribeLogGroups",
        "p": prefix,
        "q": pattern,
        "c": group_class,
        "i": None if names is None else list(names),
    }
    after_name = None
    if params.get("nextToken"):
        after_name = tokens.decode_page(params["nextToken"], binding).get("k")
        if not isinstance(after_name, str):
            raise invalid_token()
    classes = _CLASS_FAMILIES.get(group_class, (group_class,)) if group_class else None
    query = LogGroupQuery(
        account_id=context.account_id,
        region=context.region,
        name_prefix=prefix,
        name_contains=pattern or None,
        names=names,
        classes=classes,
        after_name=after_name,
        limit=int(params.get("limit") or DEFAULT_LIMIT),
    )
    return query, binding


def operations(store: LogStore, clock: Clock) -> dict[str, Handler]:
    def create_log_group(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["logGroupName"]
        if name.startswith("aws/"):
            raise invalid_parameter("Log group names can't start with the string aws/.")
        group = LogGroup(
            key=LogGroupKey(context.account_id, context.region, name),
            created_ms=now_ms(clock),
            kms_key_id=params.get("kmsKeyId"),
            log_group_class=params.get("logGroupClass") or "STANDARD",
            deletion_protection=bool(params.get("deletionProtectionEnabled")),
        )
        tags = params.get("tags") or {}
        check_tags(tags)
        try:
            store.create_log_group(group, tags)
        except AlreadyExists as exc:
            raise group_exists() from exc
        return {}

    def delete_log_group(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = require_group(store, context, params)
        if group.deletion_protection:
            raise deletion_protected()
        if not store.delete_log_group(group.key):
            raise group_not_found()
        return {}

    def describe_log_groups(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        query, binding = _listing(context, params)
        page, more = store.list_log_groups(query)
        brief = query.name_contains is not None
        result: dict[str, Any] = {"logGroups": [describe(g, brief=brief) for g in page]}
        if more and page:
            result["nextToken"] = tokens.encode_page({**binding, "k": page[-1].key.name})
        return result

    def put_retention_policy(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        days = int(params["retentionInDays"])
        check_days(days)
        if not store.set_retention(group_key(context, params), days):
            raise group_not_found()
        return {}

    def delete_retention_policy(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if not store.set_retention(group_key(context, params), None):
            raise group_not_found()
        return {}

    def put_deletion_protection(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = group_key_for(context, params["logGroupIdentifier"])
        if key is None or not store.set_deletion_protection(key, bool(params["deletionProtectionEnabled"])):
            raise group_not_found()
        return {}

    return {
        "CreateLogGroup": create_log_group,
        "DeleteLogGroup": delete_log_group,
        "DescribeLogGroups": describe_log_groups,
        "PutRetentionPolicy": put_retention_policy,
        "DeleteRetentionPolicy": delete_retention_policy,
        "PutLogGroupDeletionProtection": put_deletion_protection,
    }

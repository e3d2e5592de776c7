"""Tags on log groups: TagResource/UntagResource/ListTagsForResource and the legacy *LogGroup forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.aws.errors import ServiceError
from sagemill.services.logs.arns import parse_group_arn
from sagemill.services.logs.errors import group_not_found, invalid_parameter
from sagemill.store.logs import LogGroupKey, LogStore

MAX_TAGS = 50


def _too_many(resource: str) -> ServiceError:
    return ServiceError(
        "TooManyTagsException",
        f"A resource can have no more than {MAX_TAGS} tags.",
        fields={"resourceName": resource},
    )


def _key_of_arn(context: RequestContext, arn: str) -> LogGroupKey:
    """The caller's log group an ARN names; only log groups are taggable here."""
    key = parse_group_arn(arn)
    if key is None:
        if ":log-group:" not in arn and ":destination:" not in arn:
            raise invalid_parameter(f"Invalid resource ARN: {arn[:256]}")
        raise group_not_found()
    if key.account_id != context.account_id or key.region != context.region:
        raise group_not_found()
    return key


def check_tags(tags: Mapping[str, str]) -> None:
    """Keys beginning with `aws:` belong to AWS."""
    reserved = sorted(k for k in tags if k.lower().startswith("aws:"))
    if reserved:
        raise invalid_parameter(f"Tag keys beginning with 'aws:' are reserved: {', '.join(reserved)}.")


def operations(store: LogStore) -> dict[str, Handler]:
    def tag(key: LogGroupKey, resource: str, tags: Mapping[str, str]) -> None:
        check_tags(tags)
        existing = store.group_tags(key)
        if existing is None:
            raise group_not_found()
        if len(existing.keys() | tags.keys()) > MAX_TAGS:
            raise _too_many(resource)
        if not store.set_group_tags(key, tags):
            raise group_not_found()

    def listing(key: LogGroupKey) -> dict[str, Any]:
        tags = store.group_tags(key)
        if tags is None:
            raise group_not_found()
        return {"tags": tags}

    def untag(key: LogGroupKey, keys: list[str]) -> None:
        if not store.remove_group_tags(key, keys):
            raise group_not_found()

    def named(context: RequestContext, params: Mapping[str, Any]) -> LogGroupKey:
        return LogGroupKey(context.account_id, context.region, params["logGroupName"])

    def tag_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tag(_key_of_arn(context, params["resourceArn"]), params["resourceArn"], params["tags"])
        return {}

    def untag_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        untag(_key_of_arn(context, params["resourceArn"]), list(params["tagKeys"]))
        return {}

    def list_tags_for_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return listing(_key_of_arn(context, params["resourceArn"]))

    def tag_log_group(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tag(named(context, params), params["logGroupName"], params["tags"])
        return {}

    def untag_log_group(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        untag(named(context, params), list(params["tags"]))
        return {}

    def list_tags_log_group(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return listing(named(context, params))

    return {
        "TagResource": tag_resource,
        "UntagResource": untag_resource,
        "ListTagsForResource": list_tags_for_resource,
        "TagLogGroup": tag_log_group,
        "UntagLogGroup": untag_log_group,
        "ListTagsLogGroup": list_tags_log_group,
    }

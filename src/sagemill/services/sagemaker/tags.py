"""AddTags, ListTags and DeleteTags on any SageMaker resource of the caller's account and region."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.arns import parse_arn, sagemaker_kind_of
from sagemill.domain.resources import Resource, Tag
from sagemill.services.sagemaker.errors import resource_limit, validation
from sagemill.services.sagemaker.listing import decode_token, encode_token
from sagemill.store.base import Store

MAX_TAGS = 50


def tags_from_wire(items: list[Mapping[str, Any]]) -> list[Tag]:
    return [Tag(str(item["Key"]), str(item.get("Value", ""))) for item in items]


def check_tags(tags: list[Tag]) -> None:
    keys = [t.key for t in tags]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise validation(f"Duplicate tag keys are not allowed: {', '.join(duplicates)}.")
    reserved = [k for k in keys if k.lower().startswith("aws:")]
    if reserved:
        raise validation(f"Tag keys beginning with 'aws:' are reserved for AWS use: {', '.join(reserved)}.")
    if len(tags) > MAX_TAGS:
        raise resource_limit(f"A resource can have at most {MAX_TAGS} tags; the request has {len(tags)}.")


def _owned_resource(store: Store, context: RequestContext, arn: str) -> Resource:
    """The resource an ARN names, if it is in the caller's account and region; tenants never see others'."""
    parsed = parse_arn(arn)
    resource = store.get_resource_by_arn(arn) if parsed is not None else None
    if (
        parsed is None
        or sagemaker_kind_of(parsed) is None
        or resource is None
        or resource.key.account_id != context.account_id
        or resource.key.region != context.region
    ):
        raise validation(f'Could not find resource "{arn}".')
    return resource


def operations(store: Store) -> dict[str, Handler]:
    def add_tags(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource = _owned_resource(store, context, params["ResourceArn"])
        tags = tags_from_wire(params["Tags"])
        check_tags(tags)
        existing = {t.key for t in store.list_tags(resource.arn, None, MAX_TAGS * 4)[0]}
        total = len(existing | {t.key for t in tags})
        if total > MAX_TAGS:
            raise resource_limit(
                f"A resource can have at most {MAX_TAGS} tags; this request would make {total}."
            )
        store.set_tags(resource.arn, tags)
        return {"Tags": [{"Key": t.key, "Value": t.value} for t in tags]}

    def list_tags(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource = _owned_resource(store, context, params["ResourceArn"])
        limit = int(params.get("MaxResults") or MAX_TAGS)
        after_key = None
        if params.get("NextToken"):
            # Opaque like every SageMaker token, and bound to the resource it pages through.
            after_key = decode_token(params["NextToken"], {"a": resource.arn}).get("k")
            if not isinstance(after_key, str):
                raise validation("Invalid pagination token.")
        page, more = store.list_tags(resource.arn, after_key, limit)
        result: dict[str, Any] = {"Tags": [{"Key": t.key, "Value": t.value} for t in page]}
        if more and page:
            result["NextToken"] = encode_token({"a": resource.arn, "k": page[-1].key})
        return result

    def delete_tags(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource = _owned_resource(store, context, params["ResourceArn"])
        store.remove_tags(resource.arn, list(params["TagKeys"]))
        return {}

    return {"AddTags": add_tags, "ListTags": list_tags, "DeleteTags": delete_tags}

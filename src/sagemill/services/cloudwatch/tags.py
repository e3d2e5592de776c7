"""TagResource, UntagResource and ListTagsForResource for alarms (CloudWatch's taggable resource here)."""

from __future__ import annotations

from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.domain.resources import Tag
from sagemill.services.cloudwatch.errors import invalid_value, not_found
from sagemill.store.base import Store

MAX_TAGS = 50


def _owned(store: Store, context: RequestContext, arn: str) -> str:
    resource = store.get_resource_by_arn(arn)
    if resource is None or (resource.key.account_id, resource.key.region) != (
        context.account_id,
        context.region,
    ):
        raise not_found(f"The resource {arn} does not exist.")
    return arn


def operations(store: Store) -> dict[str, Handler]:
    def tag_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = _owned(store, context, params["ResourceARN"])
        tags = [Tag(t["Key"], t["Value"]) for t in params["Tags"]]
        existing = {t.key for t in _all_tags(store, arn)}
        if len(existing | {t.key for t in tags}) > MAX_TAGS:
            raise invalid_value(f"A resource can have at most {MAX_TAGS} tags.")
        store.set_tags(arn, tags)
        return {}

    def untag_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        store.remove_tags(_owned(store, context, params["ResourceARN"]), list(params["TagKeys"]))
        return {}

    def list_tags_for_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = _owned(store, context, params["ResourceARN"])
        return {"Tags": [{"Key": t.key, "Value": t.value} for t in _all_tags(store, arn)]}

    return {
        "TagResource": tag_resource,
        "UntagResource": untag_resource,
        "ListTagsForResource": list_tags_for_resource,
    }


def _all_tags(store: Store, arn: str) -> list[Tag]:
    tags, _ = store.list_tags(arn, None, MAX_TAGS + 1)
    return tags

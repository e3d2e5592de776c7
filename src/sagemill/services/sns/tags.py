"""TagResource, UntagResource and ListTagsForResource on the caller's topics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.control.notifications import TOPIC_KIND
from sagemill.domain.resources import Resource, Tag
from sagemill.services.sns.access import parse_sns_arn
from sagemill.services.sns.errors import (
    invalid_parameter,
    not_authorized,
    resource_not_found,
    tag_limit_exceeded,
)
from sagemill.store.base import Store

MAX_TAGS = 50


def tags_from_wire(items: list[Mapping[str, Any]]) -> list[Tag]:
    return [Tag(str(item["Key"]), str(item.get("Value", ""))) for item in items]


def check_new_tags(tags: list[Tag], existing: int, overlap: int = 0) -> None:
    """Refuse duplicate keys and more than MAX_TAGS on one resource, in SNS's words."""
    keys = [t.key for t in tags]
    if len(set(keys)) != len(keys):
        raise invalid_parameter("Duplicated keys are not allowed.")
    if existing + len(tags) - overlap > MAX_TAGS:
        raise tag_limit_exceeded()


def _owned_topic(store: Store, context: RequestContext, arn: str) -> Resource:
    parsed = parse_sns_arn(arn, "ResourceArn", 6)
    if parsed.account_id != context.account_id:
        raise not_authorized(context, arn)
    topic = store.get_resource_by_arn(arn)
    if topic is None or topic.key.kind != TOPIC_KIND or topic.key.region != context.region:
        raise resource_not_found()
    return topic


def operations(store: Store) -> dict[str, Handler]:
    def tag_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = _owned_topic(store, context, params["ResourceArn"])
        tags = tags_from_wire(params["Tags"])
        current = {t.key for t in store.list_tags(topic.arn, None, MAX_TAGS * 4)[0]}
        check_new_tags(tags, len(current), len(current & {t.key for t in tags}))
        store.set_tags(topic.arn, tags)
        return {}

    def untag_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = _owned_topic(store, context, params["ResourceArn"])
        store.remove_tags(topic.arn, [str(k) for k in params["TagKeys"]])
        return {}

    def list_tags_for_resource(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = _owned_topic(store, context, params["ResourceArn"])
        tags = store.list_tags(topic.arn, None, MAX_TAGS * 4)[0]
        return {"Tags": [{"Key": t.key, "Value": t.value} for t in tags]}

    return {
        "TagResource": tag_resource,
        "UntagResource": untag_resource,
        "ListTagsForResource": list_tags_for_resource,
    }

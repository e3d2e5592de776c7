"""CreateTopic, GetTopicAttributes, SetTopicAttributes, ListTopics and DeleteTopic."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.aws.errors import ServiceError
from sagemill.control.notifications import CONFIRMED, TOPIC_KIND, all_topic_subscriptions
from sagemill.domain.errors import AlreadyExists, NotFound, VersionConflict
from sagemill.domain.resources import Resource, ResourceKey, ResourceQuery, SortKey, SortOrder, Tag
from sagemill.security.sns_signing import SIGNATURE_VERSIONS
from sagemill.services.clock import Clock
from sagemill.services.sns.access import find_topic, owned_topic, topic_arn
from sagemill.services.sns.errors import TOPIC_NOT_FOUND, invalid_parameter, not_found
from sagemill.services.sns.paging import PAGE_SIZE, decode_token, encode_token
from sagemill.services.sns.tags import check_new_tags, tags_from_wire
from sagemill.store.base import Store

TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Attributes a topic stores as given; the rest of GetTopicAttributes is computed.
SETTABLE = frozenset(
    {"DisplayName", "Policy", "DeliveryPolicy", "KmsMasterKeyId", "SignatureVersion", "TracingConfig"}
)
MAX_DISPLAY_NAME = 100
EFFECTIVE_DELIVERY_POLICY = json.dumps(
    {
        "http": {
            "defaultHealthyRetryPolicy": {
                "minDelayTarget": 20,
                "maxDelayTarget": 20,
                "numRetries": 3,
                "numMaxDelayRetries": 0,
                "numNoDelayRetries": 0,
                "numMinDelayRetries": 0,
                "backoffFunction": "linear",
            },
            "disableSubscriptionOverrides": False,
            "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
        }
    },
    separators=(",", ":"),
)


def default_policy(arn: str, account_id: str) -> str:
    """The access policy SNS gives a new topic: its owner may do everything."""
    actions = [
        "SNS:GetTopicAttributes",
        "SNS:SetTopicAttributes",
        "SNS:AddPermission",
        "SNS:RemovePermission",
        "SNS:DeleteTopic",
        "SNS:Subscribe",
        "SNS:ListSubscriptionsByTopic",
        "SNS:Publish",
    ]
    statement = {
        "Sid": "__default_statement_ID",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}},
    }
    policy = {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [statement]}
    return json.dumps(policy, separators=(",", ":"))


def _check_attribute(name: str, value: str) -> None:
    if name == "FifoTopic":
        if value.lower() == "true":
            raise invalid_parameter("Attributes Reason: FifoTopic: Sagemill does not support FIFO topics")
        return
    if name not in SETTABLE:
        raise invalid_parameter("AttributeName")
    if name == "DisplayName" and len(value) > MAX_DISPLAY_NAME:
        raise invalid_parameter(f"DisplayName Reason: must be at most {MAX_DISPLAY_NAME} characters")
    if name == "SignatureVersion" and value not in SIGNATURE_VERSIONS:
        raise invalid_parameter("SignatureVersion")


def _attributes(given: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name, value in given.items():
        _check_attribute(name, str(value))
        if name != "FifoTopic":  # SNS does not keep an explicit FifoTopic=false
            attributes[name] = str(value)
    return attributes


def operations(store: Store, clock: Clock) -> dict[str, Handler]:
    def create_topic(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["Name"])
        if not TOPIC_NAME.fullmatch(name):
            raise invalid_parameter("Topic Name")
        attributes = _attributes(params.get("Attributes") or {})
        tags = tags_from_wire(params.get("Tags") or [])
        check_new_tags(tags, 0)
        arn = topic_arn(context, name)
        existing = store.get_resource_by_arn(arn)
        if existing is None:
            now = clock()
            topic = Resource(
                key=ResourceKey(context.account_id, context.region, TOPIC_KIND, name),
                arn=arn,
                desired={"Name": name, "Attributes": attributes},
                created_at=now,
                updated_at=now,
            )
            try:
                store.create_resource(topic, tags)
                return {"TopicArn": arn}
            except AlreadyExists:
                existing = store.get_resource_by_arn(arn)  # a concurrent CreateTopic won the race
        if existing is not None:
            _same_topic(store, existing, attributes, tags)
        return {"TopicArn": arn}

    def get_topic_attributes(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = owned_topic(store, context, params["TopicArn"])
        stored: dict[str, str] = topic.desired.get("Attributes", {})
        confirmed = pending = 0
        for subscription in all_topic_subscriptions(store, context.account_id, context.region, topic.arn):
            if subscription.status == CONFIRMED:
                confirmed += 1
            else:
                pending += 1
        attributes = {
            "TopicArn": topic.arn,
            "Owner": context.account_id,
            "Policy": stored.get("Policy") or default_policy(topic.arn, context.account_id),
            "DisplayName": stored.get("DisplayName", ""),
            "SubscriptionsConfirmed": str(confirmed),
            "SubscriptionsPending": str(pending),
            "SubscriptionsDeleted": "0",
            "EffectiveDeliveryPolicy": EFFECTIVE_DELIVERY_POLICY,
            **{k: v for k, v in stored.items() if k not in ("Policy", "DisplayName")},
        }
        return {"Attributes": attributes}

    def set_topic_attributes(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = owned_topic(store, context, params["TopicArn"])
        name = str(params["AttributeName"])
        value = str(params.get("AttributeValue") or "")
        if name == "FifoTopic":
            raise invalid_parameter("AttributeName")
        _check_attribute(name, value)
        for _ in range(5):  # optimistic locking: reread and retry if a concurrent write won
            attributes = {**topic.desired.get("Attributes", {}), name: value}
            if not value and name != "DisplayName":
                attributes.pop(name)
            updated = replace(topic, desired={**topic.desired, "Attributes": attributes}, updated_at=clock())
            try:
                store.update_resource(updated, topic.version)
                return {}
            except VersionConflict:
                topic = owned_topic(store, context, params["TopicArn"])
            except NotFound:
                raise not_found(TOPIC_NOT_FOUND) from None
        raise ServiceError("ConcurrentAccess", "The topic was changed concurrently; retry the request.", 400)

    def list_topics(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        after = decode_token(params.get("NextToken"), "topics")
        query = ResourceQuery(
            account_id=context.account_id,
            region=context.region,
            kind=TOPIC_KIND,
            sort_key=SortKey.NAME,
            sort_order=SortOrder.ASCENDING,
            limit=PAGE_SIZE,
            after=(after, after) if after is not None else None,
        )
        page, more = store.list_resources(query)
        result: dict[str, Any] = {"Topics": [{"TopicArn": topic.arn} for topic in page]}
        if more and page:
            result["NextToken"] = encode_token("topics", page[-1].key.name)
        return result

    def delete_topic(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # Idempotent, as in SNS: deleting a topic that does not exist succeeds.
        topic = find_topic(store, context, params["TopicArn"])
        if topic is None:
            return {}
        doomed = list(all_topic_subscriptions(store, context.account_id, context.region, topic.arn))
        for subscription in doomed:
            store.delete_resource(subscription.key)
        store.delete_resource(topic.key)
        return {}

    return {
        "CreateTopic": create_topic,
        "GetTopicAttributes": get_topic_attributes,
        "SetTopicAttributes": set_topic_attributes,
        "ListTopics": list_topics,
        "DeleteTopic": delete_topic,
    }


def _same_topic(store: Store, existing: Resource, attributes: dict[str, str], tags: list[Tag]) -> None:
    """CreateTopic of an existing name succeeds only when what it asks for is already so."""
    stored: dict[str, str] = existing.desired.get("Attributes", {})
    if any(stored.get(k, "") != v for k, v in attributes.items()):
        raise invalid_parameter("Attributes Reason: Topic already exists with different attributes")
    if tags:
        current = {t.key: t.value for t in store.list_tags(existing.arn, None, 1000)[0]}
        if any(current.get(t.key) != t.value for t in tags):
            raise invalid_parameter("Tags Reason: Topic already exists with different tags")

"""Subscribe, ConfirmSubscription, Unsubscribe, the two List calls and subscription attributes."""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.control.notifications import (
    CONFIRMED,
    EMAIL_PROTOCOLS,
    HTTP_PROTOCOLS,
    PENDING_CONFIRMATION,
    SUBSCRIPTION_KIND,
    NotificationQueue,
    all_topic_subscriptions,
    signature_version,
    subscription_name,
    topic_subscriptions,
)
from sagemill.control.sns_egress import EgressPolicy
from sagemill.domain.errors import NotFound, VersionConflict
from sagemill.domain.resources import Resource, ResourceKey, ResourceQuery, SortKey, SortOrder
from sagemill.services.clock import Clock
from sagemill.services.sns.access import find_subscription, owned_subscription, owned_topic
from sagemill.services.sns.confirmation import confirm, new_token
from sagemill.services.sns.errors import invalid_parameter
from sagemill.services.sns.paging import PAGE_SIZE, decode_token, encode_token
from sagemill.store.base import Store

PROTOCOLS = HTTP_PROTOCOLS + EMAIL_PROTOCOLS
EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")
PENDING_ARN = "pending confirmation"


def _check_endpoint(protocol: str, endpoint: str, egress: EgressPolicy) -> None:
    if protocol not in PROTOCOLS:
        raise invalid_parameter(f"Amazon SNS does not support this protocol string: {protocol}")
    if not endpoint:
        raise invalid_parameter("Endpoint")
    if protocol in HTTP_PROTOCOLS:
        if not endpoint.startswith(f"{protocol}://"):
            raise invalid_parameter("Endpoint must match the specified protocol")
        host = urlsplit(endpoint).hostname
        if not host:
            raise invalid_parameter("Endpoint")
        # An IP literal is judged now; a name is judged on every delivery, once resolved.
        refusal = egress.literal_refusal(host)
        if refusal is not None:
            raise invalid_parameter(f"Endpoint Reason: {host} is {refusal}; Sagemill does not deliver there")
    elif not EMAIL_ADDRESS.fullmatch(endpoint):
        raise invalid_parameter("Email address")


def _subscription_attributes(protocol: str, given: dict[str, Any]) -> dict[str, str]:
    """Sagemill honours one subscription attribute, RawMessageDelivery (HTTP/HTTPS)."""
    attributes = {"RawMessageDelivery": "false"}
    for name, value in given.items():
        _check_attribute(protocol, name, str(value))
        attributes[name] = str(value).lower()
    return attributes


def _check_attribute(protocol: str, name: str, value: str) -> None:
    if name != "RawMessageDelivery":
        raise invalid_parameter(
            f"Attributes Reason: Sagemill does not support the subscription attribute {name}"
        )
    if value.lower() not in ("true", "false"):
        raise invalid_parameter(
            f"Attributes Reason: RawMessageDelivery: Invalid value [{value}]. Must be true or false."
        )
    if protocol not in HTTP_PROTOCOLS and value.lower() == "true":
        raise invalid_parameter(
            f"Attributes Reason: Delivery protocol [{protocol}] does not support raw message delivery "
            "attribute"
        )


def summary(subscription: Resource) -> dict[str, Any]:
    """A subscription as List* show it: unconfirmed ones have no ARN yet."""
    desired = subscription.desired
    return {
        "SubscriptionArn": subscription.arn if subscription.status == CONFIRMED else PENDING_CONFIRMATION,
        "Owner": desired["Owner"],
        "Protocol": desired["Protocol"],
        "Endpoint": desired["Endpoint"],
        "TopicArn": desired["TopicArn"],
    }


def operations(store: Store, clock: Clock, notifications: NotificationQueue) -> dict[str, Handler]:
    def send_confirmation(topic: Resource, subscription: Resource, *, create: bool) -> None:
        """Store the subscription with a fresh token (only its digest is kept), then send the token."""
        token, token_digest = new_token(subscription.arn.rsplit(":", 1)[-1])
        desired = {**subscription.desired, "TokenSha256": token_digest, "TokenIssuedAt": clock()}
        if create:
            subscription = replace(subscription, desired=desired)
            store.create_resource(subscription, [])
        else:
            subscription = store.update_resource(replace(subscription, desired=desired), subscription.version)
        display_name = str(topic.desired.get("Attributes", {}).get("DisplayName", ""))
        notifications.request_confirmation(subscription, token, display_name, signature_version(topic))

    def subscribe(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = owned_topic(store, context, params["TopicArn"])
        protocol = str(params["Protocol"])
        endpoint = str(params.get("Endpoint") or "")
        _check_endpoint(protocol, endpoint, notifications.egress)
        attributes = _subscription_attributes(protocol, params.get("Attributes") or {})
        given = {k: v for k, v in attributes.items() if k in (params.get("Attributes") or {})}
        reveal = bool(params.get("ReturnSubscriptionArn"))
        # One subscription per (topic, protocol, endpoint): subscribing again returns it.
        for existing in all_topic_subscriptions(store, context.account_id, context.region, topic.arn):
            if existing.desired["Protocol"] != protocol or existing.desired["Endpoint"] != endpoint:
                continue
            if any(existing.desired.get("Attributes", {}).get(k) != v for k, v in given.items()):
                raise invalid_parameter(
                    "Attributes Reason: Subscription already exists with different attributes"
                )
            if existing.status != CONFIRMED:
                # Confirmed or removed meanwhile: the answer below still holds.
                with contextlib.suppress(VersionConflict, NotFound):
                    send_confirmation(topic, existing, create=False)
            return {
                "SubscriptionArn": existing.arn if reveal or existing.status == CONFIRMED else PENDING_ARN
            }
        subscription_id = str(uuid.uuid4())
        now = clock()
        subscription = Resource(
            key=ResourceKey(
                context.account_id,
                context.region,
                SUBSCRIPTION_KIND,
                subscription_name(topic.arn, subscription_id),
            ),
            arn=f"{topic.arn}:{subscription_id}",
            desired={
                "TopicArn": topic.arn,
                "Protocol": protocol,
                "Endpoint": endpoint,
                "Owner": context.account_id,
                "Attributes": attributes,
            },
            created_at=now,
            updated_at=now,
            status=PENDING_CONFIRMATION,
            observed={"ConfirmationWasAuthenticated": False},
        )
        send_confirmation(topic, subscription, create=True)
        return {"SubscriptionArn": subscription.arn if reveal else PENDING_ARN}

    def confirm_subscription(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # The token is the credential: the endpoint's owner may confirm from another account.
        flag = str(params.get("AuthenticateOnUnsubscribe") or "false").lower() == "true"
        subscription = confirm(
            store,
            clock,
            params["TopicArn"],
            params["Token"],
            authenticated=True,
            authenticate_on_unsubscribe=flag,
        )
        return {"SubscriptionArn": subscription.arn}

    def unsubscribe(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # Idempotent, as in SNS: a subscription already gone is not an error.
        subscription = find_subscription(store, context, params["SubscriptionArn"])
        if subscription is not None:
            store.delete_resource(subscription.key)
        return {}

    def list_subscriptions(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        after = decode_token(params.get("NextToken"), "subscriptions")
        query = ResourceQuery(
            account_id=context.account_id,
            region=context.region,
            kind=SUBSCRIPTION_KIND,
            sort_key=SortKey.NAME,
            sort_order=SortOrder.ASCENDING,
            limit=PAGE_SIZE,
            after=(after, after) if after is not None else None,
        )
        page, more = store.list_resources(query)
        result: dict[str, Any] = {"Subscriptions": [summary(s) for s in page]}
        if more and page:
            result["NextToken"] = encode_token("subscriptions", page[-1].key.name)
        return result

    def list_subscriptions_by_topic(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = owned_topic(store, context, params["TopicArn"])
        after = decode_token(params.get("NextToken"), f"topic:{topic.arn}")
        page: list[Resource] = []
        while True:  # the name match may scan rows of similarly named topics: skip empty pages
            rows, after = topic_subscriptions(
                store, context.account_id, context.region, topic.arn, after, PAGE_SIZE
            )
            page += rows
            if page or after is None:
                break
        result: dict[str, Any] = {"Subscriptions": [summary(s) for s in page]}
        if after is not None:
            result["NextToken"] = encode_token(f"topic:{topic.arn}", after)
        return result

    def get_subscription_attributes(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        subscription = owned_subscription(store, context, params["SubscriptionArn"])
        desired = subscription.desired
        attributes = {
            "SubscriptionArn": subscription.arn,
            "TopicArn": desired["TopicArn"],
            "Owner": desired["Owner"],
            "Protocol": desired["Protocol"],
            "Endpoint": desired["Endpoint"],
            "PendingConfirmation": "false" if subscription.status == CONFIRMED else "true",
            "ConfirmationWasAuthenticated": _flag(subscription.observed.get("ConfirmationWasAuthenticated")),
            **desired.get("Attributes", {}),
        }
        return {"Attributes": attributes}

    def set_subscription_attributes(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["AttributeName"])
        value = str(params.get("AttributeValue") or "")
        for _ in range(5):  # optimistic locking: reread and retry if a concurrent write won
            subscription = owned_subscription(store, context, params["SubscriptionArn"])
            _check_attribute(str(subscription.desired["Protocol"]), name, value)
            attributes = {**subscription.desired.get("Attributes", {}), name: value.lower()}
            updated = replace(subscription, desired={**subscription.desired, "Attributes": attributes})
            try:
                store.update_resource(replace(updated, updated_at=clock()), subscription.version)
                return {}
            except (VersionConflict, NotFound):
                continue
        raise invalid_parameter("SubscriptionArn Reason: the subscription kept changing; retry")

    return {
        "Subscribe": subscribe,
        "ConfirmSubscription": confirm_subscription,
        "Unsubscribe": unsubscribe,
        "ListSubscriptions": list_subscriptions,
        "ListSubscriptionsByTopic": list_subscriptions_by_topic,
        "GetSubscriptionAttributes": get_subscription_attributes,
        "SetSubscriptionAttributes": set_subscription_attributes,
    }


def _flag(value: Any) -> str:
    return "true" if value else "false"

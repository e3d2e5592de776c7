"""Finding the caller's topics and subscriptions from the ARNs in a request, with SNS's refusals."""

from __future__ import annotations

from sagemill.aws.context import RequestContext
from sagemill.control.notifications import SUBSCRIPTION_KIND, TOPIC_KIND
from sagemill.domain.arns import PARTITION, Arn
from sagemill.domain.resources import Resource
from sagemill.services.sns.errors import (
    SUBSCRIPTION_NOT_FOUND,
    TOPIC_NOT_FOUND,
    invalid_parameter,
    not_authorized,
    not_found,
)
from sagemill.store.base import Store


def topic_arn(context: RequestContext, name: str) -> str:
    return str(Arn(PARTITION, "sns", context.region, context.account_id, name))


def parse_sns_arn(text: str, member: str, parts: int) -> Arn:
    """An SNS ARN of `parts` colon-separated parts (6: a topic, 7: a subscription)."""
    pieces = text.split(":")
    if len(pieces) < 6:
        raise invalid_parameter(f"{member} Reason: An ARN must have at least 6 elements, not {len(pieces)}")
    if len(pieces) != parts or pieces[0] != "arn" or pieces[2] != "sns" or not all(pieces[3:]):
        raise invalid_parameter(member)
    return Arn(pieces[1], pieces[2], pieces[3], pieces[4], ":".join(pieces[5:]))


def _check_scope(context: RequestContext, arn: Arn, text: str, member: str) -> None:
    if arn.region != context.region:
        raise invalid_parameter(member)
    if arn.account_id != context.account_id:
        raise not_authorized(context, text)


def find_topic(store: Store, context: RequestContext, arn: str, member: str = "TopicArn") -> Resource | None:
    """The caller's topic, None when it does not exist; refuses malformed and other accounts' ARNs."""
    _check_scope(context, parse_sns_arn(arn, member, 6), arn, member)
    topic = store.get_resource_by_arn(arn)
    if topic is None or topic.key.kind != TOPIC_KIND or topic.key.account_id != context.account_id:
        return None
    return topic


def owned_topic(store: Store, context: RequestContext, arn: str, member: str = "TopicArn") -> Resource:
    topic = find_topic(store, context, arn, member)
    if topic is None:
        raise not_found(TOPIC_NOT_FOUND)
    return topic


def find_subscription(store: Store, context: RequestContext, arn: str) -> Resource | None:
    _check_scope(context, parse_sns_arn(arn, "SubscriptionArn", 7), arn, "SubscriptionArn")
    subscription = store.get_resource_by_arn(arn)
    if (
        subscription is None
        or subscription.key.kind != SUBSCRIPTION_KIND
        or subscription.key.account_id != context.account_id
    ):
        return None
    return subscription


def owned_subscription(store: Store, context: RequestContext, arn: str) -> Resource:
    subscription = find_subscription(store, context, arn)
    if subscription is None:
        raise not_found(SUBSCRIPTION_NOT_FOUND)
    return subscription

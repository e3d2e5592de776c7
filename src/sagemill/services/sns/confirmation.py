"""Subscription tokens, and confirming or cancelling a subscription by token or ARN (API and links alike).

A token is the subscription's id (32 hex digits, so it is found without a scan) followed by 128 random
hex digits; only its SHA-256 is stored. The token is the secret: whoever holds it may confirm.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import replace

from sagemill.control.notifications import CONFIRMED, SUBSCRIPTION_KIND
from sagemill.domain.errors import NotFound, VersionConflict
from sagemill.domain.resources import Resource
from sagemill.services.clock import Clock
from sagemill.services.sns.access import parse_sns_arn
from sagemill.services.sns.errors import invalid_parameter
from sagemill.store.base import Store

TOKEN_TTL_SECONDS = 3 * 86_400.0
"""How long a confirmation token is honoured, as SNS (three days)."""


def new_token(subscription_id: str) -> tuple[str, str]:
    """(token, digest to store) for a subscription id."""
    token = uuid.UUID(subscription_id).hex + secrets.token_hex(64)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _subscription_for(store: Store, topic_arn: str, token: str) -> Resource:
    try:
        subscription_id = str(uuid.UUID(hex=token[:32]))
    except ValueError:
        raise invalid_parameter("Token") from None
    subscription = store.get_resource_by_arn(f"{topic_arn}:{subscription_id}")
    if (
        subscription is None
        or subscription.key.kind != SUBSCRIPTION_KIND
        or not hmac.compare_digest(str(subscription.desired.get("TokenSha256", "")), digest(token))
    ):
        raise invalid_parameter("Token")
    return subscription


def confirm(
    store: Store,
    clock: Clock,
    topic_arn: str,
    token: str,
    *,
    authenticated: bool,
    authenticate_on_unsubscribe: bool = False,
) -> Resource:
    """Confirm the subscription `token` was issued for; idempotent once confirmed."""
    parse_sns_arn(topic_arn, "TopicArn", 6)
    for _ in range(5):  # optimistic locking: reread and retry if a concurrent write won
        subscription = _subscription_for(store, topic_arn, token)
        if subscription.status == CONFIRMED:
            return subscription
        now = clock()
        if now - float(subscription.desired.get("TokenIssuedAt", now)) > TOKEN_TTL_SECONDS:
            raise invalid_parameter("Token Reason: the confirmation token has expired; subscribe again")
        observed = {
            **subscription.observed,
            "ConfirmationWasAuthenticated": authenticated,
            "AuthenticateOnUnsubscribe": authenticate_on_unsubscribe,
        }
        confirmed = replace(subscription, status=CONFIRMED, observed=observed, updated_at=now)
        try:
            return store.update_resource(confirmed, subscription.version)
        except (VersionConflict, NotFound):
            continue
    raise invalid_parameter("Token")

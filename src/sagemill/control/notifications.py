"""The SNS delivery queue: one durable row per (message, subscription), sent with retries and back-off.

Rows are generic Resources of kind `sns-delivery`, written before `publish()` returns, so a crash or restart
loses nothing: the next tick after a restart sends whatever is due (at least once, as SNS). A delivery that
keeps failing ends `Failed` with the last reason; finished rows are kept a while for inspection, then purged.
The queue runs on its own thread (`start()`/`stop()`) and sends a tick's deliveries on a small bounded pool
with short timeouts, so a slow or dead endpoint never holds up the other reconcilers.

Topics and subscriptions are written by the SNS provider; the kinds and the subscription naming they share
with this queue are defined here, so that alarm actions can publish without importing a service.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sagemill.control.loop import Loop, PeriodicTask
from sagemill.control.notification_transports import (
    DeliveryFailed,
    DeliveryRefused,
    HttpSender,
    MailSender,
    confirmation_mail,
    no_mail_server,
    notification_mail,
    post_http,
)
from sagemill.control.sns_egress import DEFAULT_EGRESS, EgressPolicy
from sagemill.control.sns_messages import http_payload, mail_payload, sns_timestamp
from sagemill.control.sns_messages import structured_message as structured_message
from sagemill.domain.errors import NotFound, VersionConflict
from sagemill.domain.resources import Resource, ResourceKey, ResourceQuery, SortKey, SortOrder
from sagemill.security.sns_signing import MessageSigner
from sagemill.store.base import Store

log = logging.getLogger("sagemill.notifications")

TOPIC_KIND = "sns-topic"
SUBSCRIPTION_KIND = "sns-subscription"
DELIVERY_KIND = "sns-delivery"

# Subscription statuses.
CONFIRMED = "Confirmed"
PENDING_CONFIRMATION = "PendingConfirmation"

# Delivery statuses.
PENDING = "Pending"
DELIVERED = "Delivered"
FAILED = "Failed"

HTTP_PROTOCOLS = ("http", "https")
EMAIL_PROTOCOLS = ("email", "email-json")

POLL_SECONDS = 0.5
BATCH = 64
WORKERS = 8
KEEP_DELIVERED_SECONDS = 3600.0
KEEP_FAILED_SECONDS = 7 * 86_400.0
# Resource names hold at most 256 characters; a topic name may have 256 on its own.
_TOPIC_PREFIX_CHARS = 200
LINKS_PATH = "/_sagemill/sns/"


class _Gone(DeliveryFailed):
    """Unsubscribed (or its topic deleted) since the message was published: nothing to deliver."""


class TopicNotFound(LookupError):
    """`publish()` named a topic that does not exist in that account and region."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off: base, 2·base, 4·base … seconds (at most max_delay), max_attempts tries."""

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("retry policy needs max_attempts >= 1 and 0 <= base_delay <= max_delay")

    def delay_after(self, attempts: int) -> float | None:
        """Seconds to wait after `attempts` failed tries, or None when the delivery gives up."""
        if attempts >= self.max_attempts:
            return None
        return float(min(self.max_delay, self.base_delay * 2 ** min(max(attempts - 1, 0), 60)))


def signature_version(topic: Resource) -> str:
    """The topic's SignatureVersion attribute: "1" (SHA1withRSA, SNS's default) or "2" (SHA256withRSA)."""
    return str(topic.desired.get("Attributes", {}).get("SignatureVersion") or "1")


def topic_name_of(topic_arn: str) -> str:
    return topic_arn.rsplit(":", 1)[-1]


def subscription_name(topic_arn: str, subscription_id: str) -> str:
    """A subscription's resource name: its topic's name first, so a topic's subscriptions list together."""
    return f"{topic_name_of(topic_arn)[:_TOPIC_PREFIX_CHARS]}:{subscription_id}"


def topic_subscriptions(
    store: Store, account_id: str, region: str, topic_arn: str, after: str | None = None, limit: int = 100
) -> tuple[list[Resource], str | None]:
    """One page of a topic's subscriptions in name order, and the cursor of the next page (None: last)."""
    query = ResourceQuery(
        account_id=account_id,
        region=region,
        kind=SUBSCRIPTION_KIND,
        # A substring, case-insensitive match: it narrows the scan; the TopicArn check below decides.
        name_contains=f"{topic_name_of(topic_arn)[:_TOPIC_PREFIX_CHARS]}:",
        sort_key=SortKey.NAME,
        sort_order=SortOrder.ASCENDING,
        limit=limit,
        after=(after, after) if after is not None else None,
    )
    rows, more = store.list_resources(query)
    page = [row for row in rows if row.desired.get("TopicArn") == topic_arn]
    return page, (rows[-1].key.name if more and rows else None)


def all_topic_subscriptions(store: Store, account_id: str, region: str, topic_arn: str) -> Iterator[Resource]:
    after: str | None = None
    while True:
        page, after = topic_subscriptions(store, account_id, region, topic_arn, after)
        yield from page
        if after is None:
            return


class NotificationQueue:
    """Durable SNS deliveries; `publish` may be called from any thread (API handlers, alarm reconcilers)."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        *,
        public_url: str,
        policy: RetryPolicy | None = None,
        http: HttpSender | None = None,
        mail: MailSender = no_mail_server,
        workers: int = WORKERS,
        egress: EgressPolicy = DEFAULT_EGRESS,
        signer: MessageSigner | None = None,
    ) -> None:
        """`signer` None sends unsigned envelopes (unit tests); the server always passes its key."""
        self.store = store
        self.clock = clock
        self.public_url = public_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.egress = egress
        self.signer = signer
        self.http = http or self._post
        self.mail = mail
        self.workers = max(1, workers)
        self._ticking = threading.Lock()
        self._loop = Loop([PeriodicTask("sns deliveries", POLL_SECONDS, self.tick)])

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def _post(self, url: str, body: str, headers: Mapping[str, str]) -> None:
        post_http(url, body, headers, egress=self.egress)

    # URLs on this server that endpoints visit (unauthenticated: the token or the ARN is the secret).

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        return f"{self.public_url}{LINKS_PATH}confirm?" + urlencode({"TopicArn": topic_arn, "Token": token})

    def unsubscribe_url(self, subscription_arn: str) -> str:
        return f"{self.public_url}{LINKS_PATH}unsubscribe?" + urlencode({"SubscriptionArn": subscription_arn})

    def _signed(
        self, envelope: dict[str, Any], version: str, signatures: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """SignatureVersion, then (with a signer) Signature and SigningCertURL, where SNS puts them.

        `signatures` caches them per message text: one Publish signs each distinct text once (RSA is slow).
        """
        envelope["SignatureVersion"] = version
        if self.signer is not None:
            cache = signatures if signatures is not None else {}
            text = str(envelope["Message"])
            if text not in cache:
                cache[text] = self.signer.sign(envelope, version)
            envelope["Signature"] = cache[text]
            envelope["SigningCertURL"] = f"{self.public_url}{LINKS_PATH}{self.signer.certificate_name}"
        return envelope

    # Enqueueing.

    def publish(
        self,
        account_id: str,
        region: str,
        topic_arn: str,
        message: str,
        subject: str | None = None,
        attributes: Mapping[str, Mapping[str, str]] | None = None,
        *,
        message_structure: str | None = None,
    ) -> str:
        """Store one delivery per confirmed subscription of the topic; returns the MessageId.

        `attributes` are in the envelope's form, `{name: {"Type": "String", "Value": "…"}}`. With
        `message_structure="json"`, `message` is SNS's per-protocol JSON object (ValueError if malformed).
        Raises TopicNotFound when the topic is not in that account and region.
        """
        topic = self.store.get_resource_by_arn(topic_arn)
        if topic is None or topic.key != ResourceKey(account_id, region, TOPIC_KIND, topic.key.name):
            raise TopicNotFound(topic_arn)
        bodies = structured_message(message) if message_structure == "json" else {"default": message}
        display_name = str(topic.desired.get("Attributes", {}).get("DisplayName", ""))
        version = signature_version(topic)
        signatures: dict[str, str] = {}
        message_id = str(uuid.uuid4())
        now = self.clock()
        for subscription in all_topic_subscriptions(self.store, account_id, region, topic_arn):
            if subscription.status != CONFIRMED:
                continue
            protocol = str(subscription.desired["Protocol"])
            text = bodies.get(protocol, bodies["default"])
            unsubscribe_url = self.unsubscribe_url(subscription.arn)
            envelope: dict[str, Any] = {
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic_arn,
            }
            if subject is not None:
                envelope["Subject"] = subject
            envelope |= {"Message": text, "Timestamp": sns_timestamp(now)}
            envelope = self._signed(envelope, version, signatures)
            envelope["UnsubscribeURL"] = unsubscribe_url
            if attributes:
                envelope["MessageAttributes"] = {k: dict(v) for k, v in attributes.items()}
            if protocol == "email":
                mail_subject, mail_body = notification_mail(text, subject, unsubscribe_url)
                payload = mail_payload(mail_subject, mail_body, display_name)
            elif protocol == "email-json":
                payload = mail_payload(
                    subject or "AWS Notification Message", json.dumps(envelope), display_name
                )
            else:
                raw = (
                    str(subscription.desired.get("Attributes", {}).get("RawMessageDelivery", "false"))
                    == "true"
                )
                payload = http_payload(envelope, subscription.arn, raw)
            self._enqueue(subscription, message_id, "Notification", payload, now)
        self._loop.wake()
        return message_id

    def request_confirmation(
        self, subscription: Resource, token: str, display_name: str = "", version: str = "1"
    ) -> str:
        """Send a pending subscription its (signed) confirmation request or mail; returns its MessageId."""
        topic_arn = str(subscription.desired["TopicArn"])
        protocol = str(subscription.desired["Protocol"])
        message_id = str(uuid.uuid4())
        now = self.clock()
        url = self.subscribe_url(topic_arn, token)
        envelope: dict[str, Any] = {
            "Type": "SubscriptionConfirmation",
            "MessageId": message_id,
            "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": url,
            "Timestamp": sns_timestamp(now),
        }
        envelope = self._signed(envelope, version)
        if protocol == "email":
            payload = mail_payload(*confirmation_mail(topic_arn, url), display_name)
        elif protocol == "email-json":
            payload = mail_payload(
                "AWS Notification - Subscription Confirmation", json.dumps(envelope), display_name
            )
        else:
            payload = http_payload(envelope, None, raw=False)
        self._enqueue(subscription, message_id, "SubscriptionConfirmation", payload, now)
        self._loop.wake()
        return message_id

    def _enqueue(
        self, subscription: Resource, message_id: str, message_type: str, payload: dict[str, Any], now: float
    ) -> None:
        subscription_id = subscription.arn.rsplit(":", 1)[-1]
        desired = {
            "SubscriptionArn": subscription.arn,
            "TopicArn": subscription.desired["TopicArn"],
            "Protocol": subscription.desired["Protocol"],
            "Endpoint": subscription.desired["Endpoint"],
            "MessageId": message_id,
            "Type": message_type,
            **payload,
        }
        key = subscription.key
        row = Resource(
            key=ResourceKey(key.account_id, key.region, DELIVERY_KIND, f"{message_id}:{subscription_id}"),
            arn=f"{subscription.arn}/{message_id}",
            desired=desired,
            created_at=now,
            updated_at=now,
            status=PENDING,
            next_action_at=now,
            observed={"Attempts": 0},
        )
        self.store.create_resource(row, [])

    # Delivering.

    def tick(self, now: float) -> int:
        """Attempt each due delivery once, purge finished rows past their keeping time; returns attempts."""
        with self._ticking:
            due: list[Resource] = []
            for row in self.store.due_resources(DELIVERY_KIND, now, BATCH):
                if row.status == PENDING:
                    due.append(row)
                else:
                    self.store.delete_resource(row.key)
            if len(due) <= 1:
                outcomes = [self._attempt(row) for row in due]
            else:
                with ThreadPoolExecutor(
                    min(self.workers, len(due)), thread_name_prefix="sagemill-sns"
                ) as pool:
                    outcomes = list(pool.map(self._attempt, due))
            for row, reason in zip(due, outcomes, strict=True):
                self._record(row, reason, now)
            return len(due)

    def _attempt(self, row: Resource) -> DeliveryFailed | None:
        """Send one delivery; None on success, else why it failed."""
        subscription = self.store.get_resource_by_arn(str(row.desired["SubscriptionArn"]))
        if subscription is None or subscription.key.kind != SUBSCRIPTION_KIND:
            return _Gone("gone")
        endpoint = str(row.desired["Endpoint"])
        try:
            if "Http" in row.desired:
                self.http(endpoint, row.desired["Http"]["Body"], row.desired["Http"]["Headers"])
            else:
                mail = row.desired["Mail"]
                self.mail(endpoint, mail["Subject"], mail["Body"], mail["FromName"])
        except DeliveryFailed as failure:
            return failure
        except Exception as exc:
            log.exception("SNS delivery %s raised unexpectedly", row.arn)
            return DeliveryFailed(f"internal error ({type(exc).__name__})")
        return None

    def _record(self, row: Resource, failure: DeliveryFailed | None, now: float) -> None:
        if isinstance(failure, _Gone):
            self.store.delete_resource(row.key)
            return
        reason = None if failure is None else failure.reason
        attempts = int(row.observed.get("Attempts", 0)) + 1
        observed = {**row.observed, "Attempts": attempts, "LastAttemptAt": now}
        what = (row.desired["Type"], row.desired["MessageId"], row.desired["SubscriptionArn"])
        if reason is None:
            updated = replace(
                row, status=DELIVERED, status_reason="", next_action_at=now + KEEP_DELIVERED_SECONDS
            )
            log.debug("SNS %s %s delivered to %s", *what)
        else:
            # A policy refusal would be refused again: fail at once, saying so.
            delay = None if isinstance(failure, DeliveryRefused) else self.policy.delay_after(attempts)
            if delay is None:
                if not isinstance(failure, DeliveryRefused):
                    reason = f"Gave up after {attempts} attempts: {reason}"
                updated = replace(
                    row, status=FAILED, status_reason=reason, next_action_at=now + KEEP_FAILED_SECONDS
                )
                # The subscription ARN, never the endpoint: URLs and addresses may carry credentials.
                log.warning("SNS %s %s to %s failed: %s", *what, reason)
            else:
                updated = replace(row, status_reason=reason, next_action_at=now + delay)
                log.info(
                    "SNS %s %s to %s: attempt %d failed (%s); retrying in %gs", *what, attempts, reason, delay
                )
        with contextlib.suppress(VersionConflict, NotFound):  # deleted or changed meanwhile: that wins
            self.store.update_resource(replace(updated, observed=observed, updated_at=now), row.version)

"""The SNS delivery queue: back-off policy, durable rows, envelopes, retries and failure records."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from sagemill.control.notification_transports import DeliveryFailed, SmtpServer
from sagemill.control.notifications import (
    CONFIRMED,
    DELIVERED,
    DELIVERY_KIND,
    FAILED,
    KEEP_DELIVERED_SECONDS,
    PENDING,
    PENDING_CONFIRMATION,
    SUBSCRIPTION_KIND,
    TOPIC_KIND,
    NotificationQueue,
    RetryPolicy,
    TopicNotFound,
    structured_message,
    subscription_name,
)
from sagemill.domain.errors import AlreadyExists, NotFound, VersionConflict
from sagemill.domain.resources import Resource, ResourceKey, ResourceQuery, SortOrder

ACCOUNT, REGION = "123456789012", "us-east-1"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
T0 = 1_700_000_000.0


class MemoryStore:
    """Just enough of the Store port for the queue: resources by key and ARN, name-ordered pages, due rows."""

    def __init__(self) -> None:
        self.rows: dict[ResourceKey, Resource] = {}

    def create_resource(self, resource: Resource, tags: list[Any]) -> None:
        if resource.key in self.rows or self.get_resource_by_arn(resource.arn) is not None:
            raise AlreadyExists(resource.arn)
        self.rows[resource.key] = resource

    def get_resource_by_arn(self, arn: str) -> Resource | None:
        return next((r for r in self.rows.values() if r.arn == arn), None)

    def update_resource(self, resource: Resource, expected_version: int) -> Resource:
        current = self.rows.get(resource.key)
        if current is None:
            raise NotFound(resource.arn)
        if current.version != expected_version:
            raise VersionConflict(resource.arn)
        self.rows[resource.key] = replace(resource, version=expected_version + 1)
        return self.rows[resource.key]

    def delete_resource(self, key: ResourceKey) -> bool:
        return self.rows.pop(key, None) is not None

    def list_resources(self, query: ResourceQuery) -> tuple[list[Resource], bool]:
        assert query.sort_order is SortOrder.ASCENDING
        rows = sorted(
            (
                r
                for r in self.rows.values()
                if (r.key.account_id, r.key.region, r.key.kind)
                == (query.account_id, query.region, query.kind)
                and (not query.name_contains or query.name_contains.lower() in r.key.name.lower())
                and (query.after is None or r.key.name > query.after[1])
            ),
            key=lambda r: r.key.name,
        )
        return rows[: query.limit], len(rows) > query.limit

    def due_resources(self, kind: str, now: float, limit: int) -> list[Resource]:
        due = [r for r in self.rows.values() if r.key.kind == kind and r.next_action_at is not None]
        return sorted((r for r in due if r.next_action_at is not None and r.next_action_at <= now), key=_due)[
            :limit
        ]

    def deliveries(self) -> list[Resource]:
        return sorted((r for r in self.rows.values() if r.key.kind == DELIVERY_KIND), key=lambda r: r.arn)


def _due(resource: Resource) -> float:
    return resource.next_action_at or 0.0


class FakeHttp:
    """Records POSTs; answers with the failures queued in `fail_next` first."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.fail_next: list[str] = []

    def __call__(self, url: str, body: str, headers: Mapping[str, str]) -> None:
        self.posts.append((url, json.loads(body), dict(headers)))
        if self.fail_next:
            raise DeliveryFailed(self.fail_next.pop(0))


class FakeMail:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, str]] = []

    def __call__(self, to: str, subject: str, body: str, from_name: str) -> None:
        self.sent.append((to, subject, body, from_name))


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    topic_key = ResourceKey(ACCOUNT, REGION, TOPIC_KIND, "alerts")
    desired = {"Name": "alerts", "Attributes": {"DisplayName": "Ops"}}
    store.create_resource(Resource(topic_key, TOPIC, desired, T0, T0), [])
    return store


@pytest.fixture
def http() -> FakeHttp:
    return FakeHttp()


@pytest.fixture
def mail() -> FakeMail:
    return FakeMail()


@pytest.fixture
def queue(store: MemoryStore, http: FakeHttp, mail: FakeMail) -> NotificationQueue:
    return NotificationQueue(
        store,  # type: ignore[arg-type]
        lambda: T0,
        public_url="http://sagemill.test:4600/",
        policy=RetryPolicy(max_attempts=3, base_delay=1.0),
        http=http,
        mail=mail,
    )


def subscribe(
    store: MemoryStore, protocol: str, endpoint: str, status: str = CONFIRMED, raw: bool = False
) -> Resource:
    sub_id = f"0000000{len(store.rows)}-0000-4000-8000-000000000000"
    key = ResourceKey(ACCOUNT, REGION, SUBSCRIPTION_KIND, subscription_name(TOPIC, sub_id))
    desired = {
        "TopicArn": TOPIC,
        "Protocol": protocol,
        "Endpoint": endpoint,
        "Owner": ACCOUNT,
        "Attributes": {"RawMessageDelivery": "true" if raw else "false"},
    }
    subscription = Resource(key, f"{TOPIC}:{sub_id}", desired, T0, T0, status=status)
    store.create_resource(subscription, [])
    return subscription


def test_back_off_doubles_from_the_base_and_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=5.0)
    assert [policy.delay_after(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, None]
    assert RetryPolicy(max_attempts=1).delay_after(1) is None
    assert RetryPolicy(max_attempts=10_000, max_delay=60).delay_after(9_999) == 60.0


@pytest.mark.parametrize(
    "bad", [{"max_attempts": 0}, {"base_delay": -1.0}, {"base_delay": 10.0, "max_delay": 1.0}]
)
def test_back_off_refuses_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


def test_publish_stores_one_delivery_per_confirmed_subscription_before_returning(
    store: MemoryStore, queue: NotificationQueue, http: FakeHttp
) -> None:
    confirmed = subscribe(store, "https", "https://hooks.example/a?key=secret")
    subscribe(store, "http", "http://hooks.example/pending", status=PENDING_CONFIRMATION)
    message_id = queue.publish(ACCOUNT, REGION, TOPIC, "disk full", "Alarm")
    rows = store.deliveries()
    assert [r.desired["SubscriptionArn"] for r in rows] == [confirmed.arn]
    assert (
        rows[0].status == PENDING
        and rows[0].next_action_at == T0
        and rows[0].desired["MessageId"] == message_id
    )
    assert http.posts == []  # nothing is sent on the caller's thread


def test_a_delivery_is_the_sns_envelope_with_sns_headers(
    store: MemoryStore, queue: NotificationQueue, http: FakeHttp
) -> None:
    subscription = subscribe(store, "https", "https://hooks.example/a")
    attributes = {"severity": {"Type": "String", "Value": "high"}}
    message_id = queue.publish(ACCOUNT, REGION, TOPIC, "disk full", "Alarm", attributes)
    assert queue.tick(T0) == 1
    url, envelope, headers = http.posts[0]
    assert url == "https://hooks.example/a"
    assert list(envelope) == [
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "UnsubscribeURL",
        "MessageAttributes",
    ]
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == message_id
    assert envelope["Subject"] == "Alarm" and envelope["Message"] == "disk full"
    assert envelope["Timestamp"] == "2023-11-14T22:13:20.000Z"
    assert envelope["UnsubscribeURL"].startswith(
        "http://sagemill.test:4600/_sagemill/sns/unsubscribe?SubscriptionArn="
    )
    assert envelope["MessageAttributes"] == attributes
    assert headers == {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": message_id,
        "x-amz-sns-topic-arn": TOPIC,
        "x-amz-sns-subscription-arn": subscription.arn,
    }
    assert store.deliveries()[0].status == DELIVERED


def test_failures_back_off_then_the_row_records_failed_with_the_reason(
    store: MemoryStore, queue: NotificationQueue, http: FakeHttp
) -> None:
    subscribe(store, "http", "http://hooks.example/down")
    http.fail_next = ["the endpoint answered HTTP 500"] * 3
    queue.publish(ACCOUNT, REGION, TOPIC, "m")
    assert queue.tick(T0) == 1
    row = store.deliveries()[0]
    assert (row.status, row.next_action_at, row.observed["Attempts"]) == (PENDING, T0 + 1, 1)
    assert row.status_reason == "the endpoint answered HTTP 500"
    assert queue.tick(T0 + 0.5) == 0  # not due yet
    assert queue.tick(T0 + 1) == 1
    assert store.deliveries()[0].next_action_at == T0 + 3  # then 2 s
    assert queue.tick(T0 + 3) == 1
    row = store.deliveries()[0]
    assert row.status == FAILED and row.observed["Attempts"] == 3
    assert row.status_reason == "Gave up after 3 attempts: the endpoint answered HTTP 500"
    assert queue.tick(T0 + 3600) == 0 and len(http.posts) == 3


def test_a_retry_that_succeeds_is_delivered_and_purged_later(
    store: MemoryStore, queue: NotificationQueue, http: FakeHttp
) -> None:
    subscribe(store, "http", "http://hooks.example/flaky")
    http.fail_next = ["could not deliver to http://hooks.example: ConnectionRefusedError"]
    queue.publish(ACCOUNT, REGION, TOPIC, "m")
    queue.tick(T0)
    queue.tick(T0 + 1)
    row = store.deliveries()[0]
    assert (row.status, row.observed["Attempts"], row.status_reason) == (DELIVERED, 2, "")
    queue.tick(T0 + 1 + KEEP_DELIVERED_SECONDS)
    assert store.deliveries() == []


def test_a_delivery_for_a_removed_subscription_is_dropped(
    store: MemoryStore, queue: NotificationQueue, http: FakeHttp
) -> None:
    subscription = subscribe(store, "http", "http://hooks.example/x")
    queue.publish(ACCOUNT, REGION, TOPIC, "m")
    store.delete_resource(subscription.key)
    assert queue.tick(T0) == 1
    assert http.posts == [] and store.deliveries() == []


def test_raw_delivery_posts_the_message_alone(store: MemoryStore, queue: NotificationQueue) -> None:
    seen: list[tuple[str, dict[str, str]]] = []
    queue.http = lambda url, body, headers: seen.append((body, dict(headers)))
    subscribe(store, "http", "http://hooks.example/raw", raw=True)
    queue.publish(ACCOUNT, REGION, TOPIC, "plain text")
    queue.tick(T0)
    assert seen[0][0] == "plain text" and seen[0][1]["x-amz-sns-rawdelivery"] == "true"


def test_json_message_structure_picks_each_protocol_s_message(
    store: MemoryStore, queue: NotificationQueue, http: FakeHttp, mail: FakeMail
) -> None:
    subscribe(store, "https", "https://hooks.example/a")
    subscribe(store, "email", "ops@example.com")
    message = json.dumps({"default": "short", "email": "long for humans", "sqs": 5})
    queue.publish(ACCOUNT, REGION, TOPIC, message, message_structure="json")
    queue.tick(T0)
    assert http.posts[0][1]["Message"] == "short"
    to, subject, body, from_name = mail.sent[0]
    assert (to, subject, from_name) == ("ops@example.com", "AWS Notification Message", "Ops")
    assert body.startswith("long for humans\n\n--\nIf you wish to stop receiving notifications")
    assert "http://sagemill.test:4600/_sagemill/sns/unsubscribe?SubscriptionArn=" in body


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "JSON message body failed to parse"),
        ("[1]", "JSON message body failed to parse"),
        ('{"email": "x"}', "No default entry in JSON message body"),
        ('{"default": 1}', "No default entry in JSON message body"),
    ],
)
def test_structured_messages_need_a_default(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        structured_message(text)


def test_email_json_gets_the_envelope(store: MemoryStore, queue: NotificationQueue, mail: FakeMail) -> None:
    subscribe(store, "email-json", "ops@example.com")
    queue.publish(ACCOUNT, REGION, TOPIC, "m", "Subject line")
    queue.tick(T0)
    _, subject, body, _ = mail.sent[0]
    assert subject == "Subject line" and json.loads(body)["Message"] == "m"


def test_confirmation_requests_carry_the_token_and_subscribe_url(
    store: MemoryStore, queue: NotificationQueue, http: FakeHttp, mail: FakeMail
) -> None:
    hook = subscribe(store, "https", "https://hooks.example/a", status=PENDING_CONFIRMATION)
    person = subscribe(store, "email", "ops@example.com", status=PENDING_CONFIRMATION)
    queue.request_confirmation(hook, "tok1", "Ops")
    queue.request_confirmation(person, "tok2", "Ops")
    assert queue.tick(T0) == 2
    _, envelope, headers = http.posts[0]
    assert envelope["Type"] == "SubscriptionConfirmation" and envelope["Token"] == "tok1"
    assert envelope["SubscribeURL"] == (
        "http://sagemill.test:4600/_sagemill/sns/confirm?TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012"
        "%3Aalerts&Token=tok1"
    )
    assert envelope["Message"].startswith(f"You have chosen to subscribe to the topic {TOPIC}.")
    assert "x-amz-sns-subscription-arn" not in headers
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    to, subject, body, _ = mail.sent[0]
    assert to == "ops@example.com" and subject == "AWS Notification - Subscription Confirmation"
    assert "Token=tok2" in body


def test_email_without_a_mail_server_fails_saying_so(store: MemoryStore) -> None:
    queue = NotificationQueue(
        store,  # type: ignore[arg-type]
        lambda: T0,
        public_url="http://x",
        policy=RetryPolicy(max_attempts=1),
    )
    subscribe(store, "email", "ops@example.com")
    queue.publish(ACCOUNT, REGION, TOPIC, "m")
    queue.tick(T0)
    row = store.deliveries()[0]
    assert row.status == FAILED and "no SMTP server is configured" in row.status_reason


def test_publish_refuses_a_topic_of_another_account_or_region(queue: NotificationQueue) -> None:
    with pytest.raises(TopicNotFound):
        queue.publish("999999999999", REGION, TOPIC, "m")
    with pytest.raises(TopicNotFound):
        queue.publish(ACCOUNT, "eu-west-1", TOPIC, "m")
    with pytest.raises(TopicNotFound):
        queue.publish(ACCOUNT, REGION, TOPIC + "-missing", "m")


def test_smtp_urls_parse_and_never_show_the_password() -> None:
    server = SmtpServer.from_url("smtps://alarms%40corp:s3cret@mail.example:2465?from=alarms@corp.example")
    assert (server.host, server.port, server.use_ssl, server.sender) == (
        "mail.example",
        2465,
        True,
        "alarms@corp.example",
    )
    assert (server.username, server.password) == ("alarms@corp", "s3cret")
    assert "s3cret" not in repr(server)
    plain = SmtpServer.from_url("smtp://127.0.0.1?starttls=true")
    assert (plain.port, plain.starttls, plain.sender, plain.username) == (
        25,
        True,
        "sagemill@localhost",
        None,
    )
    with pytest.raises(ValueError):
        SmtpServer.from_url("http://mail.example")

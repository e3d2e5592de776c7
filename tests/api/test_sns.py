"""SNS through real boto3 against a live server: topics, subscriptions, deliveries to real HTTP and SMTP."""

from __future__ import annotations

import email
import email.message
import json
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sns_receivers import REGION, Hook, deliveries, new_account, subscribe_confirmed, wait_for

from sagemill.store.sql.engine import default_url
from sagemill.store.sql.repositories import SqlStore
from sagemill.testing.live_server import LiveServer, free_port

FAST_RETRIES = {"SAGEMILL_SNS_MAX_ATTEMPTS": "3", "SAGEMILL_SNS_RETRY_BASE_SECONDS": "0.2"}


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


class Inbox:
    """aiosmtpd's handler: keeps every mail the server sends."""

    def __init__(self) -> None:
        self.mails: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox | None]]:
    """A real SMTP server on 127.0.0.1 (None where aiosmtpd is not installed: the email test skips)."""
    port = free_port()
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        yield port, None
        return
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture(scope="module")
def sns_server(
    tmp_path_factory: pytest.TempPathFactory, smtp: tuple[int, Inbox | None]
) -> Iterator[LiveServer]:
    env = {**FAST_RETRIES, "SAGEMILL_SMTP_URL": f"smtp://127.0.0.1:{smtp[0]}?from=alarms@example.com"}
    live = LiveServer(tmp_path_factory.mktemp("sns"), env=env).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def server_store(sns_server: LiveServer) -> Iterator[SqlStore]:
    """The live server's own database, read as the platform sees it."""
    store = SqlStore(default_url(sns_server.data_dir))
    yield store
    store.close()


@pytest.fixture
def account() -> str:
    return new_account()


@pytest.fixture
def sns(sns_server: LiveServer, account: str) -> Any:
    """An SNS client in an account no other test uses."""
    return sns_server.client("sns", account=account)


@pytest.fixture
def hook() -> Iterator[Hook]:
    endpoint = Hook()
    yield endpoint
    endpoint.close()


# Topics


def test_topic_lifecycle_and_attributes(sns: Any, account: str) -> None:
    arn = sns.create_topic(Name="alerts", Attributes={"DisplayName": "Ops"})["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{account}:alerts"
    assert sns.create_topic(Name="alerts", Attributes={"DisplayName": "Ops"})["TopicArn"] == arn
    assert sns.create_topic(Name="alerts")["TopicArn"] == arn
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="alerts", Attributes={"DisplayName": "Other"})
    assert error_of(exc) == (
        "InvalidParameter",
        "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
    )
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (
        attributes["TopicArn"] == arn
        and attributes["Owner"] == account
        and attributes["DisplayName"] == "Ops"
    )
    assert (attributes["SubscriptionsConfirmed"], attributes["SubscriptionsPending"]) == ("0", "0")
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Operations")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Operations"
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [arn]
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # idempotent, as SNS
    with pytest.raises(ClientError) as exc:
        sns.get_topic_attributes(TopicArn=arn)
    assert error_of(exc) == ("NotFound", "Topic does not exist")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert sns.list_topics()["Topics"] == []


def test_list_topics_pages_by_100(sns: Any) -> None:
    names = sorted(f"t{i:03d}" for i in range(105))
    for name in names:
        sns.create_topic(Name=name)
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and "NextToken" in first
    second = sns.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    listed = [t["TopicArn"].rsplit(":", 1)[1] for t in first["Topics"] + second["Topics"]]
    assert listed == names
    paginated = [t for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    assert len(paginated) == 105
    with pytest.raises(ClientError) as exc:
        sns.list_topics(NextToken="garbage")
    assert error_of(exc) == ("InvalidParameter", "Invalid parameter: NextToken")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda c, t: c.create_topic(Name="bad name!"),
            ("InvalidParameter", "Invalid parameter: Topic Name"),
        ),
        (
            lambda c, t: c.create_topic(Name="f", Attributes={"Color": "red"}),
            ("InvalidParameter", "Invalid parameter: AttributeName"),
        ),
        (
            lambda c, t: c.get_topic_attributes(TopicArn="nope"),
            (
                "InvalidParameter",
                "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 1",
            ),
        ),
        (
            lambda c, t: c.subscribe(TopicArn=t, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:1:q"),
            ("InvalidParameter", "Invalid parameter: Amazon SNS does not support this protocol string: sqs"),
        ),
        (
            lambda c, t: c.subscribe(TopicArn=t, Protocol="https", Endpoint="http://example.com/hook"),
            ("InvalidParameter", "Invalid parameter: Endpoint must match the specified protocol"),
        ),
        (
            lambda c, t: c.subscribe(TopicArn=t, Protocol="email", Endpoint="not-an-address"),
            ("InvalidParameter", "Invalid parameter: Email address"),
        ),
        (
            lambda c, t: c.publish(TopicArn=t, Message='{"email": "x"}', MessageStructure="json"),
            (
                "InvalidParameter",
                "Invalid parameter: Message Structure - No default entry in JSON message body",
            ),
        ),
        (
            lambda c, t: c.publish(TopicArn=t, Message="{", MessageStructure="json"),
            ("InvalidParameter", "Invalid parameter: Message Structure - JSON message body failed to parse"),
        ),
        (
            lambda c, t: c.publish(TopicArn=t, Message="m", Subject="a\nb"),
            ("InvalidParameter", "Invalid parameter: Subject"),
        ),
        (
            lambda c, t: c.publish(TopicArn=t + "-gone", Message="m"),
            ("NotFound", "Topic does not exist"),
        ),
        (
            lambda c, t: c.get_subscription_attributes(
                SubscriptionArn=t + ":0f0e0d0c-0000-4000-8000-000000000000"
            ),
            ("NotFound", "Subscription does not exist"),
        ),
        (
            lambda c, t: c.confirm_subscription(TopicArn=t, Token="00" * 80),
            ("InvalidParameter", "Invalid parameter: Token"),
        ),
        (
            lambda c, t: c.publish(
                TopicArn=t, Message="m", MessageAttributes={"n": {"DataType": "Number", "StringValue": "x"}}
            ),
            ("ParameterValueInvalid", "Could not cast message attribute 'n' value to number."),
        ),
        (
            lambda c, t: c.tag_resource(ResourceArn=t + "-gone", Tags=[{"Key": "k", "Value": "v"}]),
            ("ResourceNotFound", "Resource does not exist"),
        ),
    ],
)
def test_bad_requests_get_sns_errors(
    sns: Any, call: Callable[[Any, str], Any], expected: tuple[str, str]
) -> None:
    topic = sns.create_topic(Name="errors")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        call(sns, topic)
    assert error_of(exc) == expected


def test_tags_on_topics(sns: Any) -> None:
    arn = sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "ml"}])["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    assert sorted((t["Key"], t["Value"]) for t in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]) == [
        ("env", "prod"),
        ("team", "ml"),
    ]
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="tagged", Tags=[{"Key": "env", "Value": "dev"}])
    assert error_of(exc) == (
        "InvalidParameter",
        "Invalid parameter: Tags Reason: Topic already exists with different tags",
    )
    with pytest.raises(ClientError) as exc:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert error_of(exc)[0] == "TagLimitExceeded"


def test_another_account_sees_nothing_and_is_refused(sns_server: LiveServer, sns: Any, account: str) -> None:
    arn = sns.create_topic(Name="private")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="ops@example.com")
    other = sns_server.client("sns", account=new_account())
    assert other.list_topics()["Topics"] == [] and other.list_subscriptions()["Subscriptions"] == []
    for call in (
        lambda: other.get_topic_attributes(TopicArn=arn),
        lambda: other.publish(TopicArn=arn, Message="m"),
        lambda: other.subscribe(TopicArn=arn, Protocol="email", Endpoint="x@example.com"),
        lambda: other.delete_topic(TopicArn=arn),
        lambda: other.list_tags_for_resource(ResourceArn=arn),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        code, message = error_of(exc)
        assert code == "AuthorizationError" and f"on resource: {arn}" in message
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SubscriptionsPending"] == "1"
    elsewhere = sns_server.client("sns", account=account, region="eu-west-1")
    assert elsewhere.list_topics()["Topics"] == []


# Subscriptions and deliveries


def test_http_handshake_then_publish_delivers_the_sns_envelope(sns: Any, account: str, hook: Hook) -> None:
    topic = sns.create_topic(Name="deploys")["TopicArn"]
    subscription = subscribe_confirmed(sns, topic, hook)
    headers, confirmation = hook.of_type("SubscriptionConfirmation")[0]
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-topic-arn"] == topic and "x-amz-sns-subscription-arn" not in headers
    assert confirmation["TopicArn"] == topic and len(confirmation["Token"]) >= 128
    assert confirmation["Message"].startswith(f"You have chosen to subscribe to the topic {topic}.")
    assert confirmation["SubscribeURL"].startswith("http://127.0.0.1:")
    assert "<ConfirmSubscriptionResponse" in hook.confirmed[0] and subscription in hook.confirmed[0]
    assert subscription.startswith(f"{topic}:")

    message_id = sns.publish(
        TopicArn=topic,
        Message="model v2 is live",
        Subject="Deployed",
        MessageAttributes={"stage": {"DataType": "String", "StringValue": "prod"}},
    )["MessageId"]
    headers, envelope = wait_for("the notification", lambda: hook.of_type("Notification"))[0]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == message_id
    assert headers["x-amz-sns-topic-arn"] == topic
    assert headers["x-amz-sns-subscription-arn"] == subscription
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == message_id
    assert (envelope["TopicArn"], envelope["Subject"], envelope["Message"]) == (
        topic,
        "Deployed",
        "model v2 is live",
    )
    assert envelope["SignatureVersion"] == "1" and envelope["Timestamp"].endswith("Z")
    assert envelope["MessageAttributes"] == {"stage": {"Type": "String", "Value": "prod"}}

    # The UnsubscribeURL in every message works without credentials.
    with urllib.request.urlopen(envelope["UnsubscribeURL"], timeout=10) as reply:
        assert reply.status == 200 and b"<UnsubscribeResponse" in reply.read()
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_pending_subscriptions_and_confirm_through_the_api(sns: Any, account: str) -> None:
    hook = Hook(auto_confirm=False)
    try:
        topic = sns.create_topic(Name="manual")["TopicArn"]
        arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url, ReturnSubscriptionArn=True)[
            "SubscriptionArn"
        ]
        listed = sns.list_subscriptions()["Subscriptions"]
        assert listed == [
            {
                "SubscriptionArn": "PendingConfirmation",
                "Owner": account,
                "Protocol": "http",
                "Endpoint": hook.url,
                "TopicArn": topic,
            }
        ]
        assert (
            sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"]
            == "true"
        )
        token = wait_for("the confirmation", lambda: hook.of_type("SubscriptionConfirmation"))[0][1]["Token"]
        assert sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"] == arn
        assert sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"] == arn  # idempotent
        attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        assert (
            attributes["PendingConfirmation"] == "false"
            and attributes["ConfirmationWasAuthenticated"] == "true"
        )
        assert sns.list_subscriptions()["Subscriptions"][0]["SubscriptionArn"] == arn
        # Subscribing the same endpoint again answers the existing subscription.
        assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)["SubscriptionArn"] == arn
        sns.delete_topic(TopicArn=topic)
        assert sns.list_subscriptions()["Subscriptions"] == []
        with pytest.raises(ClientError) as exc:
            sns.get_subscription_attributes(SubscriptionArn=arn)
        assert error_of(exc) == ("NotFound", "Subscription does not exist")
    finally:
        hook.close()


def test_list_subscriptions_by_topic_pages(sns: Any) -> None:
    topic = sns.create_topic(Name="crowd")["TopicArn"]
    sns.create_topic(Name="crowd2")  # a similarly named topic's subscriptions must not leak in
    for i in range(103):
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=f"person{i}@example.com")
    sns.subscribe(TopicArn=topic + "2", Protocol="email", Endpoint="other@example.com")
    first = sns.list_subscriptions_by_topic(TopicArn=topic)
    second = sns.list_subscriptions_by_topic(TopicArn=topic, NextToken=first["NextToken"])
    endpoints = {s["Endpoint"] for s in first["Subscriptions"] + second["Subscriptions"]}
    assert len(first["Subscriptions"]) == 100 and "NextToken" not in second
    assert endpoints == {f"person{i}@example.com" for i in range(103)}
    assert len(sns.list_subscriptions()["Subscriptions"]) == 100


def test_a_failed_attempt_is_retried_with_back_off(
    sns: Any, account: str, hook: Hook, server_store: SqlStore
) -> None:
    topic = sns.create_topic(Name="flaky")["TopicArn"]
    subscribe_confirmed(sns, topic, hook)
    with hook.lock:
        hook.statuses = [500]
    message_id = sns.publish(TopicArn=topic, Message="try again")["MessageId"]
    posts = wait_for(
        "the retry", lambda: len(hook.of_type("Notification")) >= 2 and hook.of_type("Notification")
    )
    assert [e["MessageId"] for _, e in posts] == [message_id, message_id]
    row = wait_for(
        "the delivery to be recorded",
        lambda: next(
            (r for r in deliveries(server_store, account, message_id) if r.status == "Delivered"), None
        ),
    )
    assert row.observed["Attempts"] == 2


def test_a_delivery_that_keeps_failing_is_recorded_failed(
    sns: Any, account: str, hook: Hook, server_store: SqlStore
) -> None:
    topic = sns.create_topic(Name="broken")["TopicArn"]
    subscribe_confirmed(sns, topic, hook)
    with hook.lock:
        hook.status = 500
    message_id = sns.publish(TopicArn=topic, Message="nobody home")["MessageId"]
    row = wait_for(
        "the delivery to fail",
        lambda: next(
            (r for r in deliveries(server_store, account, message_id) if r.status == "Failed"), None
        ),
    )
    assert row.status_reason == "Gave up after 3 attempts: the endpoint answered HTTP 500"
    assert row.observed["Attempts"] == 3 and len(hook.of_type("Notification")) == 3


def test_email_through_smtp(sns: Any, smtp: tuple[int, Inbox | None]) -> None:
    inbox = smtp[1]
    if inbox is None:
        pytest.skip("aiosmtpd is not installed (pip install -e '.[test]')")
    address = f"oncall-{secrets.token_hex(4)}@example.com"

    def mails() -> list[email.message.Message]:
        return [m for m in inbox.mails if m["To"] == address]

    topic = sns.create_topic(Name="paging", Attributes={"DisplayName": "ML Alarms"})["TopicArn"]
    assert (
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)["SubscriptionArn"]
        == "pending confirmation"
    )
    confirmation = wait_for("the confirmation mail", mails)[0]
    assert confirmation["Subject"] == "AWS Notification - Subscription Confirmation"
    assert confirmation["From"] == "ML Alarms <alarms@example.com>"
    body = str(confirmation.get_payload(decode=True), "utf-8")
    link = next(line for line in body.splitlines() if "/_sagemill/sns/confirm?" in line)
    with urllib.request.urlopen(link, timeout=10) as reply:
        assert reply.status == 200
    sns.publish(TopicArn=topic, Message="Endpoint latency is high", Subject="ALARM: latency")
    mail = wait_for("the notification mail", lambda: mails()[1:])[0]
    assert mail["Subject"] == "ALARM: latency"
    text = str(mail.get_payload(decode=True), "utf-8").replace("\r\n", "\n")  # SMTP lines end CRLF
    assert (
        text.startswith("Endpoint latency is high\n")
        and "/_sagemill/sns/unsubscribe?SubscriptionArn=" in text
    )


def test_deliveries_are_stored_before_publish_returns_and_survive_a_crash(tmp_path: Path, hook: Hook) -> None:
    env = {"SAGEMILL_SNS_MAX_ATTEMPTS": "100", "SAGEMILL_SNS_RETRY_BASE_SECONDS": "0.2"}
    live = LiveServer(tmp_path / "data", env=env).start()
    account = new_account()
    try:
        sns = live.client("sns", account=account)
        topic = sns.create_topic(Name="durable")["TopicArn"]
        subscribe_confirmed(sns, topic, hook)
        with hook.lock:
            hook.status = 503  # the endpoint is down: the delivery stays queued
        message_id = sns.publish(TopicArn=topic, Message="survive me")["MessageId"]
        store = SqlStore(default_url(live.data_dir))
        try:
            rows = deliveries(store, account, message_id)
        finally:
            store.close()
        assert len(rows) == 1 and rows[0].status == "Pending"
        live.kill()
        with hook.lock:
            hook.status = 200
        live = LiveServer(tmp_path / "data", env=env).start()
        store = SqlStore(default_url(live.data_dir))
        try:
            row = wait_for(
                "the delivery after the restart",
                lambda: next(
                    (r for r in deliveries(store, account, message_id) if r.status == "Delivered"), None
                ),
            )
        finally:
            store.close()
        # The endpoint answered 503 until the kill (if it was tried at all): the restart delivered it.
        assert row.observed["Attempts"] >= 1
        assert hook.of_type("Notification")[-1][1]["MessageId"] == message_id
    finally:
        live.stop()

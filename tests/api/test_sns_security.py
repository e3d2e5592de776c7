"""SNS signatures verified as a subscriber does, and the egress policy on HTTP(S) subscriptions, via boto3."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sns_receivers import Hook, deliveries, new_account, subscribe_confirmed, wait_for

from sagemill.store.sql.engine import default_url
from sagemill.store.sql.repositories import SqlStore
from sagemill.testing.live_server import LiveServer

FAST_RETRIES = {"SAGEMILL_SNS_MAX_ATTEMPTS": "3", "SAGEMILL_SNS_RETRY_BASE_SECONDS": "0.2"}
# SNS's documented string to sign: these keys, in this order, each as "key\nvalue\n" (absent ones skipped).
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("sns-security"), env=FAST_RETRIES).start()
    yield live
    live.stop()


@pytest.fixture
def sns(server: LiveServer) -> Any:
    return server.client("sns", account=new_account())


@pytest.fixture
def hook() -> Iterator[Hook]:
    endpoint = Hook()
    yield endpoint
    endpoint.close()


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def verify(envelope: Mapping[str, Any], base_url: str) -> None:
    """What a subscriber does: fetch SigningCertURL, rebuild the string to sign, check the RSA signature."""
    cert_url = str(envelope["SigningCertURL"])
    assert cert_url.startswith(f"{base_url}/_sagemill/sns/SimpleNotificationService-")
    assert cert_url.endswith(".pem")
    with urllib.request.urlopen(cert_url, timeout=10) as reply:
        certificate = x509.load_pem_x509_certificate(reply.read())
    keys = NOTIFICATION_KEYS if envelope["Type"] == "Notification" else CONFIRMATION_KEYS
    text = "".join(f"{k}\n{envelope[k]}\n" for k in keys if k in envelope).encode("utf-8")
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[envelope["SignatureVersion"]]
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    signature = base64.b64decode(envelope["Signature"])
    public_key.verify(signature, text, padding.PKCS1v15(), algorithm)
    with pytest.raises(InvalidSignature):  # and it really covers the message
        public_key.verify(signature, text.replace(b"Message\n", b"Message\nx"), padding.PKCS1v15(), algorithm)


@pytest.mark.parametrize("version", ["1", "2"])
def test_confirmations_and_notifications_are_signed(
    server: LiveServer, sns: Any, hook: Hook, version: str
) -> None:
    attributes = {"SignatureVersion": "2"} if version == "2" else {}
    topic = sns.create_topic(Name=f"signed-v{version}", Attributes=attributes)["TopicArn"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"].get("SignatureVersion", "1") == version
    subscribe_confirmed(sns, topic, hook)
    _, confirmation = hook.of_type("SubscriptionConfirmation")[0]
    assert confirmation["SignatureVersion"] == version
    verify(confirmation, server.url)

    sns.publish(TopicArn=topic, Message="line one\nline two ✓", Subject="Signed")
    sns.publish(TopicArn=topic, Message="no subject")
    notifications = wait_for("both notifications", lambda: len(hook.of_type("Notification")) == 2 or None)
    assert notifications
    for _, envelope in hook.of_type("Notification"):
        assert envelope["SignatureVersion"] == version
        assert list(envelope)[-4:-1] == ["SignatureVersion", "Signature", "SigningCertURL"]
        verify(envelope, server.url)


def test_signature_version_can_change_and_is_checked(server: LiveServer, sns: Any, hook: Hook) -> None:
    topic = sns.create_topic(Name="switch")["TopicArn"]
    subscribe_confirmed(sns, topic, hook)
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=topic, Message="now SHA-256")
    _, envelope = wait_for("the notification", lambda: hook.of_type("Notification"))[0]
    assert envelope["SignatureVersion"] == "2"
    verify(envelope, server.url)
    for bad in ("3", "SHA1"):
        with pytest.raises(ClientError) as exc:
            sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue=bad)
        assert error_of(exc) == ("InvalidParameter", "Invalid parameter: SignatureVersion")
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="bad-version", Attributes={"SignatureVersion": "0"})
    assert error_of(exc) == ("InvalidParameter", "Invalid parameter: SignatureVersion")


def test_the_signing_key_is_private_and_only_the_certificate_is_served(server: LiveServer) -> None:
    key_file = Path(server.data_dir) / "sns-signing.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(f"{server.url}/_sagemill/sns/SimpleNotificationService-0000.pem", timeout=10)
    assert exc.value.code == 404


# Egress policy


@pytest.mark.parametrize(
    ("endpoint", "host", "what"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "a cloud metadata service address"),
        ("http://[fd00:ec2::254]/latest", "fd00:ec2::254", "a cloud metadata service address"),
        ("https://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254", "a cloud metadata service address"),
        ("http://169.254.10.1:8080/hook", "169.254.10.1", "a link-local address"),
        ("http://[fe80::1]/hook", "fe80::1", "a link-local address"),
        ("http://0.0.0.0:4600/hook", "0.0.0.0", "the unspecified address"),
        ("http://224.0.0.251/hook", "224.0.0.251", "a multicast address"),
        ("http://255.255.255.255/hook", "255.255.255.255", "the broadcast address"),
    ],
)
def test_subscribe_refuses_forbidden_addresses(sns: Any, endpoint: str, host: str, what: str) -> None:
    topic = sns.create_topic(Name="ssrf")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=topic, Protocol=endpoint.split(":", 1)[0], Endpoint=endpoint)
    assert error_of(exc) == (
        "InvalidParameter",
        f"Invalid parameter: Endpoint Reason: {host} is {what}; Sagemill does not deliver there",
    )
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_denied_networks_refuse_literals_at_subscribe_and_names_at_delivery(
    tmp_path: Path, hook: Hook
) -> None:
    env = {**FAST_RETRIES, "SAGEMILL_SNS_HTTP_DENIED_NETWORKS": "127.0.0.0/8, ::1/128"}
    live = LiveServer(tmp_path / "data", env=env).start()
    try:
        account = new_account()
        sns = live.client("sns", account=account)
        topic = sns.create_topic(Name="internal")["TopicArn"]
        with pytest.raises(ClientError) as exc:
            sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=hook.url)
        assert error_of(exc) == (
            "InvalidParameter",
            "Invalid parameter: Endpoint Reason: 127.0.0.1 is in a network denied by "
            "SAGEMILL_SNS_HTTP_DENIED_NETWORKS; Sagemill does not deliver there",
        )
        # A name passes Subscribe; the delivery resolves it, finds a denied address and fails at once.
        by_name = hook.url.replace("127.0.0.1", "localhost")
        arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=by_name, ReturnSubscriptionArn=True)[
            "SubscriptionArn"
        ]
        store = SqlStore(default_url(live.data_dir))
        try:

            def failed() -> Any:
                rows = [r for r in deliveries(store, account, "") if r.desired["SubscriptionArn"] == arn]
                return next((r for r in rows if r.status == "Failed"), None)

            row = wait_for("the refused delivery", failed)
        finally:
            store.close()
        assert row.observed["Attempts"] == 1  # a policy refusal is not retried
        assert row.status_reason.startswith("Refused by the egress policy: http://localhost resolves to ")
        assert row.status_reason.endswith(
            ", which is in a network denied by SAGEMILL_SNS_HTTP_DENIED_NETWORKS"
        )
        assert hook.posts == []
    finally:
        live.stop()


def test_loopback_receivers_stay_allowed_by_default(sns: Any, hook: Hook) -> None:
    topic = sns.create_topic(Name="local")["TopicArn"]
    subscribe_confirmed(sns, topic, hook)  # 127.0.0.1: single-machine setups rely on it


def test_a_bad_network_setting_stops_the_server_with_its_name(tmp_path: Path) -> None:
    env = {**os.environ, "SAGEMILL_SNS_HTTP_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}
    result = subprocess.run(
        [sys.executable, "-m", "sagemill", "serve", "--data-dir", str(tmp_path), "--port", "0", "--migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "SAGEMILL_SNS_HTTP_ALLOWED_NETWORKS: 'intranet' is not an IP network" in result.stderr
    assert "object store" not in result.stderr

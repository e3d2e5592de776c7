"""The SNS signing key file, SNS's string to sign, and signatures under SignatureVersion 1 and 2."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sagemill.security.sns_signing import FILE_NAME, MessageSigner, SigningKeyError, string_to_sign, verify

NOTIFICATION = {
    "Type": "Notification",
    "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    "Subject": "My First Message",
    "Message": "Hello world!",
    "Timestamp": "2012-05-02T00:54:06.655Z",
    "UnsubscribeURL": "https://example.com/unsubscribe",
}


def test_the_string_to_sign_is_sns_s_ordered_lines() -> None:
    assert string_to_sign(NOTIFICATION) == (
        b"Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\nMy First Message\n"
        b"Timestamp\n2012-05-02T00:54:06.655Z\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        b"Type\nNotification\n"
    )
    without_subject = {k: v for k, v in NOTIFICATION.items() if k != "Subject"}
    assert b"Subject" not in string_to_sign(without_subject)
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "t",
        "TopicArn": "a",
        "Message": "hi",
        "SubscribeURL": "u",
        "Timestamp": "ts",
    }
    assert string_to_sign(confirmation) == (
        b"Message\nhi\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\nToken\nt\nTopicArn\na\n"
        b"Type\nSubscriptionConfirmation\n"
    )
    with pytest.raises(ValueError, match="does not sign"):
        string_to_sign({"Type": "Other"})


@pytest.mark.parametrize("version", ["1", "2"])
def test_signatures_verify_against_the_certificate(version: str) -> None:
    signer = MessageSigner.generate()
    envelope = {**NOTIFICATION, "SignatureVersion": version}
    envelope["Signature"] = signer.sign(envelope, version)
    assert verify(signer.certificate_pem, envelope)
    assert not verify(signer.certificate_pem, {**envelope, "Message": "Hello world?"})
    other = "2" if version == "1" else "1"
    assert not verify(signer.certificate_pem, {**envelope, "SignatureVersion": other})
    with pytest.raises(ValueError, match="SignatureVersion"):
        signer.sign(envelope, "3")


def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    signer = MessageSigner.load_or_create(tmp_path / "data")
    path = tmp_path / "data" / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = MessageSigner.load_or_create(tmp_path / "data")
    assert again.certificate_pem == signer.certificate_pem
    assert signer.certificate_name.startswith("SimpleNotificationService-")
    assert signer.certificate_name.endswith(".pem") and len(signer.certificate_name) == len(
        "SimpleNotificationService-" + "0" * 32 + ".pem"
    )
    assert "PRIVATE KEY" not in signer.certificate_pem.decode() and "PRIVATE" not in repr(signer)


def test_a_readable_or_broken_key_file_is_refused(tmp_path: Path) -> None:
    MessageSigner.load_or_create(tmp_path)
    path = tmp_path / FILE_NAME
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match="mode 0644: group or others can read it"):
        MessageSigner.load_or_create(tmp_path)
    path.write_text("not a key")
    os.chmod(path, 0o600)
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        MessageSigner.load_or_create(tmp_path)

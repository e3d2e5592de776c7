"""SNS message bodies: per-protocol messages, the envelope's timestamp, the payloads a delivery row stores."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def structured_message(text: str) -> dict[str, str]:
    """MessageStructure=json: the message per protocol; ValueError carries SNS's reason."""
    try:
        parsed = json.loads(text)
    except ValueError:
        raise ValueError("JSON message body failed to parse") from None
    if not isinstance(parsed, dict):
        raise ValueError("JSON message body failed to parse")
    # SNS ignores keys whose values are not strings.
    messages = {str(k): v for k, v in parsed.items() if isinstance(v, str)}
    if "default" not in messages:
        raise ValueError("No default entry in JSON message body")
    return messages


def sns_timestamp(seconds: float) -> str:
    """ISO 8601 with milliseconds and a Z, as SNS writes Timestamp."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_payload(envelope: Mapping[str, Any], subscription_arn: str | None, raw: bool) -> dict[str, Any]:
    """An HTTP(S) delivery: SNS's headers, and the JSON envelope (raw delivery: the message alone)."""
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": str(envelope["Type"]),
        "x-amz-sns-message-id": str(envelope["MessageId"]),
        "x-amz-sns-topic-arn": str(envelope["TopicArn"]),
    }
    if subscription_arn is not None:
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    if raw:
        headers["x-amz-sns-rawdelivery"] = "true"
    body = str(envelope["Message"]) if raw else json.dumps(envelope)
    return {"Http": {"Body": body, "Headers": headers}}


def mail_payload(subject: str, body: str, from_name: str) -> dict[str, Any]:
    """An email or email-json delivery: what the MailSender is given."""
    return {"Mail": {"Subject": subject, "Body": body, "FromName": from_name}}

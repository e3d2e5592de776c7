"""Publish: SNS's checks on the message, then one durable delivery per confirmed subscription."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.control.notifications import NotificationQueue, TopicNotFound, structured_message
from sagemill.services.sns.access import owned_topic
from sagemill.services.sns.errors import TOPIC_NOT_FOUND, invalid_parameter, invalid_value, not_found
from sagemill.store.base import Store

MAX_MESSAGE_BYTES = 256 * 1024
MAX_SUBJECT_CHARS = 100
MAX_ATTRIBUTES = 10
ATTRIBUTE_TYPES = ("String", "Number", "Binary")


def envelope_attributes(given: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, str]], int]:
    """MessageAttributes in the form SNS's JSON envelope carries them, and their size in bytes."""
    if len(given) > MAX_ATTRIBUTES:
        raise invalid_value(
            f"Number of message attributes [{len(given)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    attributes: dict[str, dict[str, str]] = {}
    size = 0
    for name, attribute in given.items():
        data_type = str(attribute.get("DataType", ""))
        base = data_type.split(".", 1)[0]
        if base not in ATTRIBUTE_TYPES:
            raise invalid_value(
                f"The message attribute '{name}' has an invalid message attribute type, the set of supported "
                "type prefixes is Binary, Number, and String."
            )
        if base == "Binary":
            raw = attribute.get("BinaryValue")
            if not raw:
                raise invalid_value(_empty(name, data_type))
            value = base64.b64encode(raw if isinstance(raw, bytes) else str(raw).encode()).decode("ascii")
            size += len(raw)
        else:
            value = str(attribute.get("StringValue") or "")
            if not value:
                raise invalid_value(_empty(name, data_type))
            if base == "Number" and not _is_number(value):
                raise invalid_value(f"Could not cast message attribute '{name}' value to number.")
            size += len(value.encode("utf-8"))
        size += len(name.encode("utf-8")) + len(data_type)
        attributes[name] = {"Type": data_type, "Value": value}
    return attributes, size


def _empty(name: str, data_type: str) -> str:
    return (
        f"The message attribute '{name}' must contain non-empty message attribute value for message "
        f"attribute type '{data_type}'."
    )


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_subject(subject: str | None) -> None:
    # SNS refuses an empty subject, one too long, and one with line breaks or other control characters.
    if subject is not None and (
        not subject.strip() or len(subject) > MAX_SUBJECT_CHARS or any(ord(c) < 32 for c in subject)
    ):
        raise invalid_parameter("Subject")


def operations(store: Store, notifications: NotificationQueue) -> dict[str, Handler]:
    def publish(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("PhoneNumber"):
            raise invalid_parameter("PhoneNumber Reason: Sagemill does not send SMS")
        arn = params.get("TopicArn") or params.get("TargetArn")
        if not arn:
            raise invalid_parameter("TopicArn or TargetArn Reason: no value for required parameter")
        member = "TopicArn" if params.get("TopicArn") else "TargetArn"
        owned_topic(store, context, str(arn), member)
        for fifo_only in ("MessageGroupId", "MessageDeduplicationId"):
            if params.get(fifo_only):
                raise invalid_parameter(
                    f"{fifo_only} Reason: The request includes {fifo_only} parameter that is not valid for "
                    "this topic type"
                )
        message = str(params.get("Message") or "")
        if not message:
            raise invalid_parameter("Empty message")
        subject = params.get("Subject")
        _check_subject(subject)
        structure = params.get("MessageStructure")
        if structure is not None and structure != "json":
            raise invalid_parameter("MessageStructure")
        if structure == "json":
            try:
                structured_message(message)
            except ValueError as exc:
                raise invalid_parameter(f"Message Structure - {exc}") from None
        attributes, attributes_size = envelope_attributes(params.get("MessageAttributes") or {})
        if len(message.encode("utf-8")) + attributes_size > MAX_MESSAGE_BYTES:
            raise invalid_parameter("Message too long")
        try:
            message_id = notifications.publish(
                context.account_id,
                context.region,
                str(arn),
                message,
                subject,
                attributes or None,
                message_structure=structure,
            )
        except TopicNotFound:
            raise not_found(TOPIC_NOT_FOUND) from None  # deleted between the check and the publish
        return {"MessageId": message_id}

    return {"Publish": publish}

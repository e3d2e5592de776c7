"""Pagination tokens: GetLogEvents' `f/…/s` and `b/…/s` positions, and opaque tokens for listings.

A position token names a gap between two events of a stream as 56 decimal digits, the way AWS's
tokens look. It is a pure function of the gap, so a reader that calls again from the same gap with
no new events gets back the very token it sent: SDKs compare tokens to know when to stop.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from sagemill.services.logs.errors import invalid_token
from sagemill.store.logs import EventCursor

FORWARD = "f"
BACKWARD = "b"

_POSITION = re.compile(r"([fb])/([0-9]{56})/s")
_SEQ_BITS = 64
_SEQ_MASK = (1 << _SEQ_BITS) - 1
_MAX_TIMESTAMP = (1 << 63) - 1


def position_digits(cursor: EventCursor) -> str:
    """The 56-digit form of a gap; also the eventId of the event just before it."""
    return f"{(cursor.timestamp << _SEQ_BITS) | (cursor.seq + 1):056d}"


def encode_position(direction: str, cursor: EventCursor) -> str:
    return f"{direction}/{position_digits(cursor)}/s"


def decode_position(token: str) -> tuple[str, EventCursor]:
    """(direction, gap) of a GetLogEvents token; InvalidParameterException when it is not one."""
    match = _POSITION.fullmatch(token)
    if match is None:
        raise invalid_token()
    value = int(match.group(2))
    timestamp, seq = value >> _SEQ_BITS, (value & _SEQ_MASK) - 1
    if timestamp > _MAX_TIMESTAMP:
        raise invalid_token()
    return match.group(1), EventCursor(timestamp, seq)


def encode_page(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page(token: str, binding: Mapping[str, Any]) -> dict[str, Any]:
    """A listing token's payload; it must come from a request with the same `binding` values."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise invalid_token() from exc
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in binding.items()):
        raise invalid_token()
    return payload


def whole_number(value: Any) -> int:
    """An integer field of a decoded token (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_token()
    return value

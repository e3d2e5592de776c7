"""SNS's NextToken: an opaque cursor (the last resource name of the page) bound to the list it came from."""

from __future__ import annotations

import base64
import binascii
import json

from sagemill.services.sns.errors import invalid_parameter

PAGE_SIZE = 100


def encode_token(listing: str, after: str) -> str:
    raw = json.dumps({"l": listing, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str | None, listing: str) -> str | None:
    """The cursor a NextToken carries; InvalidParameter when it is garbled or from another list."""
    if not token:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        raise invalid_parameter("NextToken") from None
    if not isinstance(payload, dict) or payload.get("l") != listing or not isinstance(payload.get("a"), str):
        raise invalid_parameter("NextToken")
    return str(payload["a"])

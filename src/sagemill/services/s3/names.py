"""What S3 accepts as a bucket name and an object key, and the canonical owner id of an account."""

from __future__ import annotations

import hashlib
import ipaddress
import re

from sagemill.objectstore.base import MAX_KEY_BYTES
from sagemill.services.s3.errors import invalid_bucket_name, invalid_uri, s3_error

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: str) -> None:
    """S3's general-purpose bucket naming rules; raises InvalidBucketName."""
    if (
        not _BUCKET.match(name)
        or ".." in name
        or name.startswith(_RESERVED_PREFIXES)
        or name.endswith(_RESERVED_SUFFIXES)
        or _is_ip_address(name)
    ):
        raise invalid_bucket_name(name)


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def check_key(key: str) -> None:
    """Keys are 1 to 1024 bytes of UTF-8; undecodable bytes and NUL are refused as S3 refuses URIs.

    `..`, `/` and `%2F` are ordinary characters of a key: the object store never maps keys to paths.
    """
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise invalid_uri() from None
    if "\x00" in key:
        raise invalid_uri()
    if size > MAX_KEY_BYTES:
        raise s3_error("KeyTooLongError", "Your key is too long", Size=size, MaxSizeAllowed=MAX_KEY_BYTES)


def canonical_owner_id(account_id: str) -> str:
    """A stable 64-hex canonical user id, the form S3 gives owners."""
    return hashlib.sha256(f"sagemill-owner:{account_id}".encode()).hexdigest()


def owner(account_id: str) -> dict[str, str]:
    return {"ID": canonical_owner_id(account_id), "DisplayName": account_id}

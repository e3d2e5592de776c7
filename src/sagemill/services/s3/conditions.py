"""Conditional requests (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since), as S3 decides them.

S3's precedence (RFC 7232 §6): If-Match, else If-Unmodified-Since, decides 412; then If-None-Match,
else If-Modified-Since, decides 304 for reads (412 for writes and copy sources). Dates compare at
one-second resolution, the precision of Last-Modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from sagemill.objectstore.base import ObjectInfo
from sagemill.services.clock import to_datetime
from sagemill.services.s3.errors import not_modified, precondition_failed


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match/If-None-Match list names this ETag (`*` names any)."""
    bare = etag.strip('"')
    for candidate in header.split(","):
        value = candidate.strip()
        if value.startswith("W/"):
            value = value[2:]
        if value == "*" or value.strip('"') == bare:
            return True
    return False


def _seconds(info: ObjectInfo) -> int:
    return int(info.last_modified)


def _timestamp(value: datetime) -> int:
    return int(value.timestamp())


def check_read(info: ObjectInfo, params: Mapping[str, Any]) -> None:
    """GET/HEAD: raise 412 PreconditionFailed or 304 NotModified as S3 would."""
    _check(
        info,
        params.get("IfMatch"),
        params.get("IfUnmodifiedSince"),
        params.get("IfNoneMatch"),
        params.get("IfModifiedSince"),
        read=True,
    )


def check_copy_source(info: ObjectInfo, params: Mapping[str, Any]) -> None:
    """x-amz-copy-source-if-*: every failure is a 412."""
    _check(
        info,
        params.get("CopySourceIfMatch"),
        params.get("CopySourceIfUnmodifiedSince"),
        params.get("CopySourceIfNoneMatch"),
        params.get("CopySourceIfModifiedSince"),
        read=False,
        prefix="x-amz-copy-source-",
    )


def _check(
    info: ObjectInfo,
    if_match: str | None,
    if_unmodified_since: datetime | None,
    if_none_match: str | None,
    if_modified_since: datetime | None,
    *,
    read: bool,
    prefix: str = "",
) -> None:
    if if_match is not None:
        if not etag_matches(if_match, info.etag):
            raise precondition_failed(f"{prefix}If-Match")
    elif if_unmodified_since is not None and _seconds(info) > _timestamp(if_unmodified_since):
        raise precondition_failed(f"{prefix}If-Unmodified-Since")
    if if_none_match is not None:
        if etag_matches(if_none_match, info.etag):
            if read:
                raise not_modified(_validators(info))
            raise precondition_failed(f"{prefix}If-None-Match")
    elif if_modified_since is not None and _seconds(info) <= _timestamp(if_modified_since):
        if read:
            raise not_modified(_validators(info))
        raise precondition_failed(f"{prefix}If-Modified-Since")


def _validators(info: ObjectInfo) -> dict[str, str]:
    return {
        "ETag": info.etag,
        "Last-Modified": format_datetime(to_datetime(_seconds(info)), usegmt=True),
    }

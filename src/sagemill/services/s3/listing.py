"""ListObjectsV2 and ListObjects: prefixes, delimiters and common prefixes, markers and tokens, url encoding.

The port lists keys in UTF-8 byte order after a `start_after` key. A common prefix is skipped in one
step by starting after the greatest key it could hold (`_past`), so a folder of a million keys costs
one query, not a scan.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.objectstore.base import MAX_KEY_BYTES, NoSuchBucketSpace, ObjectInfo, ObjectStore
from sagemill.services.clock import to_datetime
from sagemill.services.s3.access import BucketDirectory
from sagemill.services.s3.errors import invalid_argument, no_such_bucket
from sagemill.services.s3.names import owner

MAX_KEYS = 1000
_PAGE = 1000
_HIGHEST = "\U0010ffff"


def _past(common_prefix: str) -> str:
    """A key that sorts after every valid key starting with `common_prefix` (keys are ≤ 1024 bytes)."""
    room = MAX_KEY_BYTES - len(common_prefix.encode("utf-8"))
    return common_prefix + _HIGHEST * (max(room, 0) // 4 + 1)


@dataclass
class Listing:
    contents: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str | None = None
    """The last key or common prefix listed (the V1 NextMarker)."""
    last_is_prefix: bool = False

    @property
    def count(self) -> int:
        return len(self.contents) + len(self.prefixes)


def walk(
    objects: ObjectStore, bucket: str, prefix: str, delimiter: str, cursor: str, max_keys: int
) -> Listing:
    """Up to `max_keys` keys and common prefixes after `cursor`, and whether more follow."""
    listing = Listing()
    if max_keys <= 0:
        return listing
    current: str | None = None  # the common prefix being skipped
    while True:
        page, more = objects.list_objects(bucket, prefix, cursor, _PAGE)
        for info in page:
            if current is not None and info.key.startswith(current):
                continue
            if listing.count >= max_keys:
                listing.truncated = True
                return listing
            rest = info.key[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if cut >= 0:
                current = prefix + rest[: cut + len(delimiter)]
                listing.prefixes.append(current)
                listing.last, listing.last_is_prefix = current, True
            else:
                current = None
                listing.contents.append(info)
                listing.last, listing.last_is_prefix = info.key, False
        if not page or not more:
            return listing
        last_key = page[-1].key
        cursor = _past(current) if current is not None and last_key.startswith(current) else last_key
        if listing.count >= max_keys:
            # Full: one more look tells whether anything follows.
            following, _ = objects.list_objects(bucket, prefix, cursor, 1)
            listing.truncated = bool(following)
            return listing


def _encode_token(last: str, is_prefix: bool) -> str:
    return base64.urlsafe_b64encode(("p" if is_prefix else "k").encode() + last.encode()).decode("ascii")


def _cursor_from_token(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        kind, text = raw[:1], raw[1:].decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        kind, text = b"", ""
    if kind not in (b"p", b"k"):
        raise invalid_argument("The continuation token provided is incorrect", "continuation-token", token)
    return _past(text) if kind == b"p" else text


def _cursor_from_marker(marker: str, prefix: str, delimiter: str) -> str:
    """A V1 Marker; one that is a common prefix (a NextMarker we gave) skips that whole prefix."""
    if delimiter and marker.startswith(prefix) and marker.endswith(delimiter):
        inner = marker[len(prefix) : -len(delimiter)]
        if delimiter not in inner:
            return _past(marker)
    return marker


def _encoder(encoding: str | None) -> Any:
    if encoding is None:
        return lambda text: text
    if encoding != "url":
        raise invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", encoding)
    return lambda text: quote(text, safe="/")


def _max_keys(params: dict[str, Any]) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return MAX_KEYS
    if value < 0:
        raise invalid_argument(
            "Provided max-keys not an integer or within integer range", "max-keys", str(value)
        )
    return int(value)


def _entry(info: ObjectInfo, encode: Any, with_owner: bool, account_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Key": encode(info.key),
        "LastModified": to_datetime(round(info.last_modified, 3)),
        "ETag": info.etag,
        "Size": info.size,
        "StorageClass": info.meta.headers.get("x-amz-storage-class", "STANDARD"),
    }
    if info.checksums:
        entry["ChecksumAlgorithm"] = sorted(info.checksums)
        entry["ChecksumType"] = "FULL_OBJECT"
    if with_owner:
        entry["Owner"] = owner(account_id)
    return entry


def operations(directory: BucketDirectory, objects: ObjectStore) -> dict[str, Handler]:
    def _list(bucket: str, prefix: str, delimiter: str, cursor: str, max_keys: int) -> Listing:
        try:
            return walk(objects, bucket, prefix, delimiter, cursor, min(max_keys, MAX_KEYS))
        except NoSuchBucketSpace:
            raise no_such_bucket(bucket) from None

    def list_objects_v2(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        encode = _encoder(params.get("EncodingType"))
        prefix = params.get("Prefix") or ""
        delimiter = params.get("Delimiter") or ""
        token = params.get("ContinuationToken")
        start_after = params.get("StartAfter") or ""
        cursor = _cursor_from_token(token) if token else start_after
        max_keys = _max_keys(params)
        listing = _list(bucket.name, prefix, delimiter, cursor, max_keys)
        fetch_owner = bool(params.get("FetchOwner"))
        result: dict[str, Any] = {
            "Name": bucket.name,
            "Prefix": encode(prefix),
            "MaxKeys": max_keys,
            "KeyCount": listing.count,
            "IsTruncated": listing.truncated,
            "Contents": [_entry(i, encode, fetch_owner, bucket.account_id) for i in listing.contents],
            "CommonPrefixes": [{"Prefix": encode(p)} for p in listing.prefixes],
        }
        if delimiter:
            result["Delimiter"] = encode(delimiter)
        if params.get("EncodingType"):
            result["EncodingType"] = params["EncodingType"]
        if token:
            result["ContinuationToken"] = token
        if start_after:
            result["StartAfter"] = encode(start_after)
        if listing.truncated and listing.last is not None:
            result["NextContinuationToken"] = _encode_token(listing.last, listing.last_is_prefix)
        return result

    def list_objects(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        encode = _encoder(params.get("EncodingType"))
        prefix = params.get("Prefix") or ""
        delimiter = params.get("Delimiter") or ""
        marker = params.get("Marker") or ""
        max_keys = _max_keys(params)
        listing = _list(
            bucket.name, prefix, delimiter, _cursor_from_marker(marker, prefix, delimiter), max_keys
        )
        result: dict[str, Any] = {
            "Name": bucket.name,
            "Prefix": encode(prefix),
            "Marker": encode(marker),
            "MaxKeys": max_keys,
            "IsTruncated": listing.truncated,
            "Contents": [_entry(i, encode, True, bucket.account_id) for i in listing.contents],
            "CommonPrefixes": [{"Prefix": encode(p)} for p in listing.prefixes],
        }
        if delimiter:
            result["Delimiter"] = encode(delimiter)
            # S3 gives NextMarker only with a delimiter; without one, clients resume from the last key.
            if listing.truncated and listing.last is not None:
                result["NextMarker"] = encode(listing.last)
        if params.get("EncodingType"):
            result["EncodingType"] = params["EncodingType"]
        return result

    return {"ListObjectsV2": list_objects_v2, "ListObjects": list_objects}

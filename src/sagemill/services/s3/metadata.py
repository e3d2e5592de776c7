"""An object's stored description (content type, user metadata, echoed headers) from a request, and back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from sagemill.aws.errors import ServiceError
from sagemill.objectstore.base import ObjectInfo, ObjectMeta
from sagemill.services.clock import to_datetime
from sagemill.services.s3.errors import s3_error

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_USER_METADATA_BYTES = 2048
DEFAULT_ENCRYPTION = "AES256"
"""S3 encrypts every new object with SSE-S3 unless told otherwise, and says so."""

# Stored header → the input/output member it comes from and goes back to.
STORED_HEADERS: dict[str, str] = {
    "Cache-Control": "CacheControl",
    "Content-Disposition": "ContentDisposition",
    "Content-Encoding": "ContentEncoding",
    "Content-Language": "ContentLanguage",
    "Expires": "Expires",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    "x-amz-server-side-encryption-bucket-key-enabled": "BucketKeyEnabled",
    "x-amz-storage-class": "StorageClass",
    "x-amz-website-redirect-location": "WebsiteRedirectLocation",
}
# Members that echo in PutObject/CopyObject/multipart answers too.
ENCRYPTION_MEMBERS = ("ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled")
# GetObject's response-* query overrides → the output member each replaces.
RESPONSE_OVERRIDES = {
    "ResponseCacheControl": "CacheControl",
    "ResponseContentDisposition": "ContentDisposition",
    "ResponseContentEncoding": "ContentEncoding",
    "ResponseContentLanguage": "ContentLanguage",
    "ResponseContentType": "ContentType",
    "ResponseExpires": "Expires",
}
_SSE_C = ("SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5")


def not_implemented(header: str) -> ServiceError:
    return ServiceError(
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
        501,
        sender_fault=False,
        fields={"Header": header},
    )


def refuse_unsupported(params: Mapping[str, Any]) -> None:
    """Customer-provided encryption keys (SSE-C) would need key handling Sagemill does not do."""
    if any(params.get(name) is not None for name in _SSE_C):
        raise not_implemented("x-amz-server-side-encryption-customer-algorithm")


def _header_text(member: str, value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value.astimezone(UTC), usegmt=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def meta_from_params(params: Mapping[str, Any]) -> ObjectMeta:
    """What PutObject, CreateMultipartUpload and CopyObject (REPLACE) store about the object."""
    refuse_unsupported(params)
    user = {str(k).lower(): str(v) for k, v in (params.get("Metadata") or {}).items()}
    if sum(len(k.encode()) + len(v.encode()) for k, v in user.items()) > MAX_USER_METADATA_BYTES:
        raise s3_error(
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size",
            MaxSizeAllowed=MAX_USER_METADATA_BYTES,
        )
    headers = {
        header: _header_text(member, params[member])
        for header, member in STORED_HEADERS.items()
        if params.get(member) is not None
    }
    headers.setdefault("x-amz-server-side-encryption", DEFAULT_ENCRYPTION)
    return ObjectMeta(params.get("ContentType") or DEFAULT_CONTENT_TYPE, user, headers)


def stored_members(meta: ObjectMeta) -> dict[str, Any]:
    """The stored headers as output members, typed as the model wants them."""
    members: dict[str, Any] = {}
    for header, value in meta.headers.items():
        member = STORED_HEADERS.get(header)
        if member is None:
            continue
        if member == "Expires":
            try:
                members[member] = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
        elif member == "BucketKeyEnabled":
            members[member] = value == "true"
        elif member == "StorageClass" and value == "STANDARD":
            continue  # S3 names the storage class only when it is not STANDARD
        else:
            members[member] = value
    return members


def encryption_members(meta: ObjectMeta) -> dict[str, Any]:
    members = stored_members(meta)
    return {name: members[name] for name in ENCRYPTION_MEMBERS if name in members}


def describe(info: ObjectInfo) -> dict[str, Any]:
    """HeadObject/GetObject members for a whole object (body and range members aside)."""
    result: dict[str, Any] = {
        "ContentLength": info.size,
        "ETag": info.etag,
        "LastModified": to_datetime(int(info.last_modified)),
        "ContentType": info.meta.content_type,
        "AcceptRanges": "bytes",
        **stored_members(info.meta),
    }
    if info.meta.user_metadata:
        result["Metadata"] = dict(info.meta.user_metadata)
    return result


def apply_overrides(result: dict[str, Any], params: Mapping[str, Any]) -> None:
    for param, member in RESPONSE_OVERRIDES.items():
        if params.get(param) is not None:
            result[member] = params[param]

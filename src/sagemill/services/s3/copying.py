"""CopyObject, and reading `x-amz-copy-source` (shared with UploadPartCopy)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.objectstore.base import (
    KeyTooLong,
    NoSuchBucketSpace,
    NoSuchObject,
    ObjectInfo,
    ObjectMeta,
    ObjectStore,
)
from sagemill.services.clock import to_datetime
from sagemill.services.s3.access import Bucket, BucketDirectory
from sagemill.services.s3.checksums import checksum_members
from sagemill.services.s3.conditions import check_copy_source
from sagemill.services.s3.errors import MAX_PUT_SIZE, invalid_argument, invalid_request, no_such_key
from sagemill.services.s3.metadata import (
    STORED_HEADERS,
    encryption_members,
    meta_from_params,
    refuse_unsupported,
)
from sagemill.services.s3.names import check_key
from sagemill.services.s3.objects import check_write_conditions, store_errors

# What a COPY-directive copy may still change, and so what makes copying an object onto itself legal.
_COPY_OVERRIDES = (
    "ServerSideEncryption",
    "SSEKMSKeyId",
    "BucketKeyEnabled",
    "StorageClass",
    "WebsiteRedirectLocation",
)


def parse_copy_source(raw: str) -> tuple[str, str]:
    """`bucket/key` (URL-encoded, an optional leading `/`, an optional `?versionId=`) → (bucket, key)."""
    path, _, query = raw.partition("?")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "versionId" and value not in ("", "null"):
            # Buckets are never versioned here, so the only version there is is "null".
            raise invalid_argument("Invalid version id specified", "versionId", value)
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise invalid_argument("Invalid copy source encoding", "x-amz-copy-source", raw) from None
    bucket, slash, key = decoded.lstrip("/").partition("/")
    if not bucket or not slash or not key:
        raise invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            "x-amz-copy-source",
            raw,
        )
    check_key(key)
    return bucket, key


def copy_source(
    directory: BucketDirectory, objects: ObjectStore, context: RequestContext, params: dict[str, Any]
) -> tuple[Bucket, ObjectInfo]:
    """The source bucket (the caller's) and object, after the x-amz-copy-source-if-* conditions."""
    bucket_name, key = parse_copy_source(params["CopySource"])
    bucket = directory.require(context, bucket_name, params.get("ExpectedSourceBucketOwner"))
    info = objects.head_object(bucket.name, key)
    if info is None:
        raise no_such_key(key)
    check_copy_source(info, params)
    return bucket, info


def _copied_meta(source: ObjectInfo, params: dict[str, Any]) -> ObjectMeta:
    """COPY keeps the source's metadata; encryption, storage class and redirect may still change."""
    refuse_unsupported(params)
    headers = dict(source.meta.headers)
    wanted = meta_from_params({k: params[k] for k in _COPY_OVERRIDES if params.get(k) is not None})
    for header, member in STORED_HEADERS.items():
        if member in _COPY_OVERRIDES and params.get(member) is not None:
            headers[header] = wanted.headers[header]
    return ObjectMeta(source.meta.content_type, dict(source.meta.user_metadata), headers)


def operations(directory: BucketDirectory, objects: ObjectStore) -> dict[str, Handler]:
    def copy_object(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = params["Key"]
        check_key(key)
        source_bucket, source = copy_source(directory, objects, context, params)
        if source.size > MAX_PUT_SIZE:
            raise invalid_request(
                "The specified copy source is larger than the maximum allowable size for a copy source: "
                f"{MAX_PUT_SIZE}"
            )
        directive = params.get("MetadataDirective") or "COPY"
        if directive == "REPLACE":
            meta = meta_from_params(params)
        else:
            same = source_bucket.name == bucket.name and source.key == key
            if same and not any(params.get(name) is not None for name in _COPY_OVERRIDES):
                raise invalid_request(
                    "This copy request is illegal because it is trying to copy an object to itself without "
                    "changing the object's metadata, storage class, website redirect location or encryption "
                    "attributes."
                )
            meta = _copied_meta(source, params)
        check_write_conditions(objects, bucket.name, key, params)
        try:
            info = objects.copy_object(source_bucket.name, source.key, bucket.name, key, meta)
        except NoSuchObject:
            raise no_such_key(source.key) from None  # the source went away since it was read
        except (NoSuchBucketSpace, KeyTooLong) as exc:
            raise store_errors(bucket.name, key, exc) from None
        copied: dict[str, Any] = {
            "ETag": info.etag,
            "LastModified": to_datetime(int(info.last_modified)),
            **checksum_members(info.checksums),
        }
        return {"CopyObjectResult": copied, **encryption_members(meta)}

    return {"CopyObject": copy_object}

"""PutObject, GetObject, HeadObject, DeleteObject and DeleteObjects over the ObjectStore port."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.aws.errors import ServiceError
from sagemill.objectstore.base import (
    ChecksumMismatch,
    IncompleteBody,
    KeyTooLong,
    NoSuchBucketSpace,
    NoSuchObject,
    ObjectInfo,
    ObjectStore,
    Readable,
)
from sagemill.services.s3.access import BucketDirectory
from sagemill.services.s3.checksums import (
    TrailingBody,
    checksum_members,
    expected_for_upload,
    object_checksums,
)
from sagemill.services.s3.conditions import check_read, etag_matches
from sagemill.services.s3.errors import (
    MAX_PUT_SIZE,
    bad_digest,
    entity_too_large,
    incomplete_body,
    malformed_xml,
    no_such_bucket,
    no_such_key,
    precondition_failed,
    s3_error,
)
from sagemill.services.s3.metadata import (
    apply_overrides,
    describe,
    encryption_members,
    meta_from_params,
    not_implemented,
)
from sagemill.services.s3.names import check_key
from sagemill.services.s3.ranges import content_range, parse_range

MAX_DELETE_KEYS = 1000
_OPEN_ATTEMPTS = 3


def body_reader(params: dict[str, Any]) -> Readable:
    """The upload body as a reader (the gateway streams S3 uploads; a buffered one is wrapped)."""
    body = params.get("Body")
    if body is None:
        return io.BytesIO(b"")
    if isinstance(body, bytes | bytearray | str):
        return io.BytesIO(body.encode() if isinstance(body, str) else bytes(body))
    reader: Readable = body
    return reader


def declared_size(params: dict[str, Any], body: Readable) -> int:
    """The payload's length (decoded, for aws-chunked); S3 refuses uploads that do not declare it."""
    size: int | None
    if isinstance(body, TrailingBody):
        size = getattr(body, "decoded_length", None)
    else:
        size = params.get("ContentLength")
    if size is None:
        if isinstance(params.get("Body"), bytes | bytearray):
            return len(params["Body"])
        raise s3_error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)
    if size > MAX_PUT_SIZE:
        raise entity_too_large(size, MAX_PUT_SIZE)
    return int(size)


def store_errors(bucket: str, key: str, error: Exception) -> ServiceError:
    """The S3 error for an object store failure during a write."""
    if isinstance(error, ChecksumMismatch):
        return bad_digest(error.algorithm)
    if isinstance(error, IncompleteBody):
        return incomplete_body()
    if isinstance(error, NoSuchBucketSpace):
        return no_such_bucket(bucket)
    if isinstance(error, KeyTooLong):
        return s3_error("KeyTooLongError", "Your key is too long")
    if isinstance(error, NoSuchObject):
        return no_such_key(key)
    raise error


def check_write_conditions(objects: ObjectStore, bucket: str, key: str, params: dict[str, Any]) -> None:
    if_none_match = params.get("IfNoneMatch")
    if_match = params.get("IfMatch")
    if if_none_match is None and if_match is None:
        return
    current = objects.head_object(bucket, key)
    if if_none_match is not None and current is not None and etag_matches(if_none_match, current.etag):
        raise precondition_failed("If-None-Match")
    if if_match is not None:
        if current is None:
            raise no_such_key(key)
        if not etag_matches(if_match, current.etag):
            raise precondition_failed("If-Match")


def _open(
    objects: ObjectStore, bucket: str, key: str, params: dict[str, Any]
) -> tuple[ObjectInfo, tuple[int, int] | None, Iterator[bytes] | None]:
    """Evaluate conditions and Range against the object, then open exactly that version (GET)."""
    for _ in range(_OPEN_ATTEMPTS):
        info = objects.head_object(bucket, key)
        if info is None:
            raise no_such_key(key)
        check_read(info, params)
        wanted = _range(info, params)
        first, last = wanted if wanted else (0, None)
        try:
            opened, chunks = objects.open_object(bucket, key, first, last)
        except NoSuchObject:
            continue  # deleted in between: look again
        if opened.etag == info.etag and opened.size == info.size:
            return opened, wanted, chunks
        _close(chunks)  # overwritten in between: the range and conditions must be decided again
    raise s3_error("OperationAborted", "The object changed while it was being read. Please try again.", 409)


def _range(info: ObjectInfo, params: dict[str, Any]) -> tuple[int, int] | None:
    part = params.get("PartNumber")
    if part is not None and not (part == 1 and not info.parts_count):
        raise not_implemented("partNumber")
    return parse_range(params.get("Range"), info.size)


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def read_result(info: ObjectInfo, wanted: tuple[int, int] | None, params: dict[str, Any]) -> dict[str, Any]:
    result = describe(info)
    if wanted is None:
        result.update(object_checksums(info, params.get("ChecksumMode")))
    else:
        first, last = wanted
        result["ContentLength"] = last - first + 1
        result["ContentRange"] = content_range(first, last, info.size)
    if params.get("PartNumber") is not None:
        result["PartsCount"] = info.parts_count or 1
    apply_overrides(result, params)
    return result


def operations(directory: BucketDirectory, objects: ObjectStore) -> dict[str, Handler]:
    def put_object(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = params["Key"]
        check_key(key)
        meta = meta_from_params(params)
        body = body_reader(params)
        size = declared_size(params, body)
        expected, algorithms = expected_for_upload(params, body, size)
        check_write_conditions(objects, bucket.name, key, params)
        try:
            info = objects.put_object(bucket.name, key, body, meta, expected, algorithms)
        except (ChecksumMismatch, IncompleteBody, NoSuchBucketSpace, KeyTooLong) as exc:
            raise store_errors(bucket.name, key, exc) from None
        result: dict[str, Any] = {"ETag": info.etag, **encryption_members(meta)}
        checksums = checksum_members(info.checksums)
        if checksums:
            result.update(checksums, ChecksumType="FULL_OBJECT")
        return result

    def get_object(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        check_key(params["Key"])
        info, wanted, chunks = _open(objects, bucket.name, params["Key"], params)
        result = read_result(info, wanted, params)
        result["Body"] = chunks
        return result

    def head_object(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = params["Key"]
        check_key(key)
        info = objects.head_object(bucket.name, key)
        if info is None:
            raise no_such_key(key)
        check_read(info, params)
        return read_result(info, _range(info, params), params)

    def delete_object(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        check_key(params["Key"])
        objects.delete_object(bucket.name, params["Key"])
        return {}

    def delete_objects(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        request = params.get("Delete") or {}
        targets = request.get("Objects") or []
        if not targets or len(targets) > MAX_DELETE_KEYS:
            raise malformed_xml()
        quiet = bool(request.get("Quiet"))
        deleted: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for target in targets:
            key = target.get("Key", "")
            try:
                check_key(key)
                if not key:
                    raise s3_error("InvalidArgument", "Invalid key")
            except ServiceError as error:
                errors.append({"Key": key, "Code": error.code, "Message": error.message})
                continue
            objects.delete_object(bucket.name, key)
            if not quiet:
                entry = {"Key": key}
                if target.get("VersionId"):
                    entry["VersionId"] = target["VersionId"]
                deleted.append(entry)
        return {"Deleted": deleted, "Errors": errors}

    return {
        "PutObject": put_object,
        "GetObject": get_object,
        "HeadObject": head_object,
        "DeleteObject": delete_object,
        "DeleteObjects": delete_objects,
    }

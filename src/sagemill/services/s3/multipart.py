"""Multipart uploads: create, upload (and copy) parts, complete, abort, and list parts and uploads.

Part sizes are checked only at CompleteMultipartUpload, as S3 does: SDKs upload parts in parallel
and in any order, and only completion knows which part is last. Every part but the last must be
at least 5 MiB (EntityTooSmall).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from sagemill.aws.context import RequestContext
from sagemill.aws.dispatch import Handler
from sagemill.objectstore.base import (
    MIN_PART_SIZE,
    ChecksumMismatch,
    EntityTooSmall,
    IncompleteBody,
    InvalidPart,
    InvalidPartOrder,
    NoSuchBucketSpace,
    NoSuchObject,
    NoSuchUpload,
    ObjectStore,
    PartInfo,
    UploadInfo,
    choose_parts,
)
from sagemill.services.clock import to_datetime
from sagemill.services.s3.access import Bucket, BucketDirectory
from sagemill.services.s3.checksums import expected_for_upload, part_checksums, requested_algorithm
from sagemill.services.s3.copying import copy_source
from sagemill.services.s3.errors import (
    MAX_PUT_SIZE,
    entity_too_large,
    invalid_argument,
    malformed_xml,
    no_such_bucket,
    no_such_upload,
    s3_error,
)
from sagemill.services.s3.metadata import encryption_members, meta_from_params
from sagemill.services.s3.names import check_key, owner
from sagemill.services.s3.objects import body_reader, check_write_conditions, declared_size, store_errors

MAX_PART_NUMBER = 10_000
MAX_LISTED = 1000
_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def _part_number(params: dict[str, Any]) -> int:
    number = params["PartNumber"]
    if not 1 <= number <= MAX_PART_NUMBER:
        raise invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive", "partNumber", str(number)
        )
    return int(number)


def _invalid_part(error: InvalidPart, stored: dict[int, PartInfo]) -> Exception:
    if isinstance(error, InvalidPartOrder):
        return s3_error(
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        )
    if isinstance(error, EntityTooSmall):
        number = int(str(error)) if str(error).isdigit() else None
        part = stored.get(number) if number is not None else None
        return s3_error(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            ProposedSize=part.size if part else None,
            MinSizeAllowed=MIN_PART_SIZE,
            PartNumber=number,
            ETag=part.etag.strip('"') if part else None,
        )
    return s3_error(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been uploaded, "
        "or the specified entity tag may not match the part's entity tag.",
    )


def _copy_range(header: str | None, size: int) -> tuple[int, int | None]:
    if header is None:
        return 0, None
    match = _COPY_RANGE.match(header.strip())
    if match is None:
        raise invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last "
            "are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            header,
        )
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise invalid_argument(
            f"Range specified is not valid for source object of size: {size}",
            "x-amz-copy-source-range",
            header,
        )
    return first, last


def operations(directory: BucketDirectory, objects: ObjectStore) -> dict[str, Handler]:
    def upload_of(context: RequestContext, params: dict[str, Any]) -> tuple[Bucket, UploadInfo]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        upload_id = params["UploadId"]
        upload = objects.get_upload(upload_id)
        if upload is None or upload.bucket != bucket.name or upload.key != params["Key"]:
            raise no_such_upload(upload_id)
        return bucket, upload

    def create_multipart_upload(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        key = params["Key"]
        check_key(key)
        meta = meta_from_params(params)
        algorithm = requested_algorithm(params)
        try:
            upload = objects.create_upload(bucket.name, key, meta, algorithm)
        except NoSuchBucketSpace:
            raise no_such_bucket(bucket.name) from None
        result: dict[str, Any] = {
            "Bucket": bucket.name,
            "Key": key,
            "UploadId": upload.upload_id,
            **encryption_members(meta),
        }
        if algorithm:
            result["ChecksumAlgorithm"] = algorithm
            result["ChecksumType"] = "COMPOSITE"
        return result

    def upload_part(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, upload = upload_of(context, params)
        number = _part_number(params)
        body = body_reader(params)
        size = declared_size(params, body)
        expected, algorithms = expected_for_upload(params, body, size)
        try:
            part = objects.put_part(upload.upload_id, number, body, expected, algorithms)
        except NoSuchUpload:
            raise no_such_upload(upload.upload_id) from None
        except (ChecksumMismatch, IncompleteBody) as exc:
            raise store_errors(upload.bucket, upload.key, exc) from None
        return {"ETag": part.etag, **part_checksums(part), **encryption_members(upload.meta)}

    def upload_part_copy(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, upload = upload_of(context, params)
        number = _part_number(params)
        source_bucket, source = copy_source(directory, objects, context, params)
        first, last = _copy_range(params.get("CopySourceRange"), source.size)
        length = (source.size if last is None else last + 1) - first
        if length > MAX_PUT_SIZE:
            raise entity_too_large(length, MAX_PUT_SIZE)
        try:
            part = objects.copy_part(upload.upload_id, number, source_bucket.name, source.key, first, last)
        except NoSuchUpload:
            raise no_such_upload(upload.upload_id) from None
        except NoSuchObject as exc:
            raise store_errors(source_bucket.name, source.key, exc) from None
        copied = {"ETag": part.etag, "LastModified": to_datetime(int(part.last_modified))}
        return {"CopyPartResult": copied, **encryption_members(upload.meta)}

    def complete_multipart_upload(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, upload = upload_of(context, params)
        named = (params.get("MultipartUpload") or {}).get("Parts") or []
        if not named:
            raise malformed_xml()
        requested = [(int(p.get("PartNumber", 0)), str(p.get("ETag", ""))) for p in named]
        check_write_conditions(objects, bucket.name, upload.key, params)
        try:
            stored = {p.part_number: p for p in objects.list_parts(upload.upload_id)}
        except NoSuchUpload:
            raise no_such_upload(upload.upload_id) from None
        try:
            # Checked here too so every adapter refuses exactly what S3 refuses, with S3's details.
            choose_parts(stored, requested)
            info = objects.complete_upload(upload.upload_id, requested)
        except InvalidPart as error:
            raise _invalid_part(error, stored) from None
        except NoSuchUpload:
            raise no_such_upload(upload.upload_id) from None
        return {
            "Location": f"/{bucket.name}/{quote(upload.key, safe='/~')}",
            "Bucket": bucket.name,
            "Key": upload.key,
            "ETag": info.etag,
            **encryption_members(upload.meta),
        }

    def abort_multipart_upload(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, upload = upload_of(context, params)
        try:
            objects.abort_upload(upload.upload_id)
        except NoSuchUpload:
            raise no_such_upload(upload.upload_id) from None
        return {}

    def list_parts(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket, upload = upload_of(context, params)
        marker = params.get("PartNumberMarker") or 0
        limit = min(params.get("MaxParts") or MAX_LISTED, MAX_LISTED)
        try:
            parts = [p for p in objects.list_parts(upload.upload_id) if p.part_number > marker]
        except NoSuchUpload:
            raise no_such_upload(upload.upload_id) from None
        page = parts[:limit]
        result: dict[str, Any] = {
            "Bucket": bucket.name,
            "Key": upload.key,
            "UploadId": upload.upload_id,
            "PartNumberMarker": marker,
            "MaxParts": params.get("MaxParts") or MAX_LISTED,
            "IsTruncated": len(parts) > limit,
            "Parts": [
                {
                    "PartNumber": p.part_number,
                    "LastModified": to_datetime(round(p.last_modified, 3)),
                    "ETag": p.etag,
                    "Size": p.size,
                    **part_checksums(p),
                }
                for p in page
            ],
            "Initiator": {**owner(bucket.account_id)},
            "Owner": owner(bucket.account_id),
            "StorageClass": "STANDARD",
        }
        if page:
            result["NextPartNumberMarker"] = page[-1].part_number
        if upload.checksum_algorithm:
            result["ChecksumAlgorithm"] = upload.checksum_algorithm
            result["ChecksumType"] = "COMPOSITE"
        return result

    def list_multipart_uploads(context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = directory.require(context, params["Bucket"], params.get("ExpectedBucketOwner"))
        return _list_uploads(bucket, objects.list_uploads(bucket.name), params)

    return {
        "CreateMultipartUpload": create_multipart_upload,
        "UploadPart": upload_part,
        "UploadPartCopy": upload_part_copy,
        "CompleteMultipartUpload": complete_multipart_upload,
        "AbortMultipartUpload": abort_multipart_upload,
        "ListParts": list_parts,
        "ListMultipartUploads": list_multipart_uploads,
    }


def _list_uploads(bucket: Bucket, uploads: list[UploadInfo], params: dict[str, Any]) -> dict[str, Any]:
    """ListMultipartUploads over the bucket's uploads (sorted by key, then initiation)."""
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter") or ""
    key_marker = params.get("KeyMarker") or ""
    id_marker = params.get("UploadIdMarker") or ""
    limit = min(params.get("MaxUploads") or MAX_LISTED, MAX_LISTED)
    listed: list[UploadInfo] = []
    prefixes: list[str] = []
    truncated = False
    passed_id_marker = not id_marker
    for upload in uploads:
        if not upload.key.startswith(prefix):
            continue
        if key_marker and upload.key < key_marker:
            continue
        if key_marker and upload.key == key_marker:
            if not id_marker:
                continue
            if not passed_id_marker:
                passed_id_marker = upload.upload_id == id_marker
                continue
        rest = upload.key[len(prefix) :]
        cut = rest.find(delimiter) if delimiter else -1
        if cut >= 0:
            common = prefix + rest[: cut + len(delimiter)]
            if common in prefixes or (key_marker and common <= key_marker):
                continue
            if len(listed) + len(prefixes) >= limit:
                truncated = True
                break
            prefixes.append(common)
            continue
        if len(listed) + len(prefixes) >= limit:
            truncated = True
            break
        listed.append(upload)
    result: dict[str, Any] = {
        "Bucket": bucket.name,
        "KeyMarker": key_marker,
        "UploadIdMarker": id_marker,
        "MaxUploads": params.get("MaxUploads") or MAX_LISTED,
        "IsTruncated": truncated,
        "Uploads": [
            {
                "UploadId": u.upload_id,
                "Key": u.key,
                "Initiated": to_datetime(round(u.initiated, 3)),
                "StorageClass": "STANDARD",
                "Owner": owner(bucket.account_id),
                "Initiator": owner(bucket.account_id),
                **({"ChecksumAlgorithm": u.checksum_algorithm} if u.checksum_algorithm else {}),
            }
            for u in listed
        ],
        "CommonPrefixes": [{"Prefix": p} for p in prefixes],
    }
    if prefix:
        result["Prefix"] = prefix
    if delimiter:
        result["Delimiter"] = delimiter
    if truncated and listed:
        result["NextKeyMarker"] = listed[-1].key
        result["NextUploadIdMarker"] = listed[-1].upload_id
    return result

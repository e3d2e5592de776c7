"""The ObjectStore port on an external S3-compatible store (MinIO, Ceph, AWS S3), as its client.

Configuration is a URL `s3://<external-bucket>/<optional-prefix>` plus endpoint, region and keys
(`ExternalS3Config.from_url`); what is not passed falls back to SAGEMILL_OBJECT_STORE_ENDPOINT,
SAGEMILL_OBJECT_STORE_REGION, SAGEMILL_OBJECT_STORE_ACCESS_KEY_ID and
SAGEMILL_OBJECT_STORE_SECRET_ACCESS_KEY, then to boto3's own chain (AWS_* variables, profiles,
instance roles). The prefix belongs to Sagemill: nothing else should write under it.

Layout under the prefix P (keys stay readable in the external store):
  P/<bucket>/                     a bucket space's marker, an empty object: the space exists iff it does
  P/<bucket>/<key>                an object, its metadata carried as the external object's own
  P/.sagemill/tmp/<uuid>          a large body being verified before it is copied into place
  P/.sagemill/uploads/<h>         a multipart upload's record (h: SHA-256 of the upload id)
  P/.sagemill/parts/<h>/<n>/<md5>/<token>   part n's checksums, in the key so one listing reads all
S3 bucket names never start with '.', so `.sagemill` cannot collide with a bucket space.

Verification before visibility. A body of at most `buffer_size` bytes (or of unknown size) is
spooled locally (in memory up to `buffer_size`, then on disk), verified, and sent with one PutObject
carrying its Content-MD5. A larger body of declared size streams to a temporary external key while
its digests are computed, is verified, and only then is server-side copied to its key (CopyObject,
atomic) or into its upload (UploadPartCopy); the temporary object is deleted either way. A crash
therefore leaves nothing at the final key, at worst a temporary object that `collect_garbage` removes.

Metadata: the content type is the external object's own; user metadata, stored headers and our
checksums travel JSON-encoded (ASCII) in its `x-amz-meta-sagemill` entry, so every value round-trips
exactly. ETags are the external store's: MD5 for PutObject and CopyObject, MD5-of-part-MD5s with
`-N` for CompleteMultipartUpload, whose parts are real external multipart parts.

LIMITATIONS:
- Keys whose external key (`P/<bucket>/<key>`) passes 1024 bytes raise KeyTooLong.
- Listings carry no metadata or checksums (ListObjectsV2 has none); head_object does.
- ETags are MD5s only where the external store makes them so: not under SSE-KMS or compression.
- AWS caps user metadata at 2 KB, which our JSON entry must fit; keys with `//` or `..` segments
  may be refused by filesystem-backed stores such as MinIO.
- S3's own size limits hold: 5 GiB for one put_object, put_part or copy_object.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from sagemill.objectstore.base import (
    MAX_KEY_BYTES,
    Expected,
    KeyTooLong,
    NoSuchBucketSpace,
    NoSuchObject,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    ObjectStore,
    ObjectStoreError,
    PartInfo,
    Readable,
    UploadInfo,
    choose_parts,
)
from sagemill.objectstore.checksums import Digests, verify
from sagemill.objectstore.external import (
    ENV_ACCESS_KEY_ID,
    ENV_ENDPOINT,
    ENV_REGION,
    ENV_SECRET_ACCESS_KEY,
    BodyChunks,
    ExternalS3Config,
    ExternalStoreError,
    encode_meta,
    error_code,
    make_client,
    meta_dict,
    meta_from_dict,
    object_info,
    parts_count,
    translate,
)
from sagemill.objectstore.streams import CHUNK, MeteredReader

# Re-exported: the adapter's configuration is part of its interface.
__all__ = [
    "ENV_ACCESS_KEY_ID",
    "ENV_ENDPOINT",
    "ENV_REGION",
    "ENV_SECRET_ACCESS_KEY",
    "ExternalS3Config",
    "ExternalStoreError",
    "S3ObjectStore",
    "make_client",
]


@dataclass(frozen=True, slots=True)
class _Staged:
    """A verified body waiting to be placed: in a local spool, or in a temporary external object."""

    digests: Digests
    spool: IO[bytes] | None = None
    temp_key: str | None = None


class S3ObjectStore:
    """The ObjectStore port on an external S3-compatible store; see the module docstring."""

    def __init__(self, config: ExternalS3Config, client: Any = None) -> None:
        """`client`: a boto3 S3 client to share (stores under several prefixes of one external store)."""
        self.config = config
        self.bucket = config.bucket
        self._root = f"{config.prefix}/" if config.prefix else ""
        self._internal = f"{self._root}.sagemill/"
        self.client: Any = client if client is not None else make_client(config)

    # layout

    def _space(self, bucket: str) -> str:
        if not bucket or "/" in bucket or bucket.startswith("."):
            raise ValueError(f"not a bucket name: {bucket!r}")
        return f"{self._root}{bucket}/"

    def _key(self, bucket: str, key: str) -> str:
        if not key:
            raise ValueError("an empty key would name the bucket space's marker")
        external = self._space(bucket) + key
        if len(external.encode("utf-8")) > MAX_KEY_BYTES:
            raise KeyTooLong(key[:64])
        return external

    def max_key_bytes(self, bucket: str) -> int:
        """The longest key (in UTF-8 bytes) this store holds in `bucket`."""
        return MAX_KEY_BYTES - len(self._space(bucket).encode("utf-8"))

    def _record_key(self, upload_id: str) -> str:
        return f"{self._internal}uploads/{_digest(upload_id)}"

    def _parts_prefix(self, upload_id: str) -> str:
        return f"{self._internal}parts/{_digest(upload_id)}/"

    # calls

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.client, operation)(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, operation) from exc
        return response

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from self.client.get_paginator(operation).paginate(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, operation) from exc

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})

    # staging: verify before anything becomes visible

    @contextmanager
    def _staged(self, body: Readable, expected: Expected, algorithms: tuple[str, ...]) -> Iterator[_Staged]:
        wanted = tuple(dict.fromkeys((*algorithms, *expected.checksums)))
        reader = MeteredReader(body, Digests(wanted), expected.size)
        if expected.size is not None and expected.size > self.config.buffer_size:
            temp = f"{self._internal}tmp/{uuid.uuid4().hex}"
            try:
                self._stream_to(temp, reader, expected)
                verify(reader.digests, expected)
                yield _Staged(reader.digests, temp_key=temp)
            finally:
                # Should this fail, collect_garbage removes it later; the caller's outcome matters more.
                with suppress(ObjectStoreError):
                    self._call("delete_object", Key=temp)
            return
        max_size = self.config.buffer_size
        with tempfile.SpooledTemporaryFile(max_size=max_size, dir=self.config.spool_dir) as spool:
            while chunk := reader.read(CHUNK):
                spool.write(chunk)
            verify(reader.digests, expected)
            spool.seek(0)
            yield _Staged(reader.digests, spool=spool)

    def _stream_to(self, temp: str, reader: MeteredReader, expected: Expected) -> None:
        """PutObject of a body as it arrives; the body's own failure wins over the client's wrapping."""
        params: dict[str, Any] = {"Key": temp, "Body": reader, "ContentLength": expected.size}
        if expected.md5_base64 is not None:
            params["ContentMD5"] = expected.md5_base64
        try:
            self.client.put_object(Bucket=self.bucket, **params)
        except Exception as exc:
            if reader.failure is not None:
                raise reader.failure from None
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise translate(exc, "put_object") from exc
            raise

    # bucket spaces

    def create_bucket_space(self, bucket: str) -> None:
        self._call("put_object", Key=self._space(bucket), Body=b"")

    def delete_bucket_space(self, bucket: str) -> None:
        for page in self._pages("list_multipart_uploads", Prefix=self._space(bucket)):
            for upload in page.get("Uploads", []):
                self._abort_external(upload["Key"], upload["UploadId"])
                self._forget(upload["UploadId"])
        self._call("delete_object", Key=self._space(bucket))

    def bucket_is_empty(self, bucket: str) -> bool:
        space = self._space(bucket)
        page = self._call("list_objects_v2", Prefix=space, StartAfter=space, MaxKeys=1)
        return not page.get("Contents")

    def _require_space(self, bucket: str) -> None:
        try:
            self._call("head_object", Key=self._space(bucket))
        except NoSuchObject:
            raise NoSuchBucketSpace(bucket) from None

    # objects

    def put_object(
        self,
        bucket: str,
        key: str,
        body: Readable,
        meta: ObjectMeta,
        expected: Expected,
        checksum_algorithms: tuple[str, ...] = (),
    ) -> ObjectInfo:
        external = self._key(bucket, key)
        self._require_space(bucket)
        with self._staged(body, expected, checksum_algorithms) as staged:
            digests = staged.digests
            placed: dict[str, Any] = {
                "Key": external,
                "ContentType": meta.content_type,
                "Metadata": encode_meta(meta, digests.checksums()),
            }
            if staged.temp_key is not None:
                source = {"Bucket": self.bucket, "Key": staged.temp_key}
                result = self._call("copy_object", CopySource=source, MetadataDirective="REPLACE", **placed)
                etag = result["CopyObjectResult"]["ETag"]
                modified = result["CopyObjectResult"]["LastModified"].timestamp()
            else:
                result = self._call(
                    "put_object",
                    Body=staged.spool,
                    ContentLength=digests.size,
                    ContentMD5=digests.md5_base64(),
                    **placed,
                )
                etag, modified = result["ETag"], time.time()
        return ObjectInfo(
            bucket, key, digests.size, etag, modified, meta, digests.checksums(), parts_count(etag)
        )

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            response = self._call("head_object", Key=self._key(bucket, key))
        except (NoSuchObject, KeyTooLong):
            return None
        return object_info(bucket, key, response, response["ContentLength"])

    def open_object(
        self, bucket: str, key: str, start: int = 0, end: int | None = None
    ) -> tuple[ObjectInfo, Iterator[bytes]]:
        try:
            external = self._key(bucket, key)
        except KeyTooLong:
            raise NoSuchObject(key) from None
        if end is not None and end < start:
            return self._head_or_raise(bucket, key), iter(())
        params: dict[str, Any] = {"Key": external}
        if start > 0 or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            # Sent now, not when the caller starts reading: the response pins the version it opened.
            response = self._call("get_object", **params)
        except ExternalStoreError as exc:
            if error_code(exc.__cause__) != "InvalidRange":
                raise
            return self._head_or_raise(bucket, key), iter(())
        size = response["ContentLength"]
        if "ContentRange" in response:
            size = int(response["ContentRange"].rpartition("/")[2])
        return object_info(bucket, key, response, size), BodyChunks(response["Body"])

    def _head_or_raise(self, bucket: str, key: str) -> ObjectInfo:
        info = self.head_object(bucket, key)
        if info is None:
            raise NoSuchObject(key)
        return info

    def delete_object(self, bucket: str, key: str) -> bool:
        # S3's DeleteObject does not say whether anything was there; the port does.
        if self.head_object(bucket, key) is None:
            return False
        self._call("delete_object", Key=self._key(bucket, key))
        return True

    def copy_object(
        self, source_bucket: str, source_key: str, bucket: str, key: str, meta: ObjectMeta
    ) -> ObjectInfo:
        external = self._key(bucket, key)
        self._require_space(bucket)
        for attempt in range(3):
            source = self._head_or_raise(source_bucket, source_key)
            try:
                result = self._call(
                    "copy_object",
                    Key=external,
                    CopySource={"Bucket": self.bucket, "Key": self._key(source_bucket, source_key)},
                    # The checksums we carry over must be those of the bytes copied.
                    CopySourceIfMatch=source.etag,
                    MetadataDirective="REPLACE",
                    ContentType=meta.content_type,
                    Metadata=encode_meta(meta, source.checksums),
                )
            except ExternalStoreError as exc:
                if error_code(exc.__cause__) == "PreconditionFailed" and attempt < 2:
                    continue  # the source was overwritten meanwhile: copy the new version
                raise
            etag = result["CopyObjectResult"]["ETag"]
            modified = result["CopyObjectResult"]["LastModified"].timestamp()
            return ObjectInfo(
                bucket, key, source.size, etag, modified, meta, source.checksums, parts_count(etag)
            )
        raise AssertionError("unreachable")

    def list_objects(
        self, bucket: str, prefix: str = "", start_after: str = "", limit: int = 1000
    ) -> tuple[list[ObjectInfo], bool]:
        self._require_space(bucket)
        space = self._space(bucket)
        found: list[ObjectInfo] = []
        # StartAfter is at least the marker itself, so the marker never lists as an object.
        params: dict[str, Any] = {"Prefix": space + prefix, "StartAfter": space + start_after}
        while True:
            page = self._call("list_objects_v2", MaxKeys=max(1, min(1000, limit - len(found))), **params)
            for item in page.get("Contents", []):
                if len(found) == limit:
                    return found, True
                etag = item["ETag"]
                found.append(
                    ObjectInfo(
                        bucket,
                        item["Key"][len(space) :],
                        item["Size"],
                        etag,
                        item["LastModified"].timestamp(),
                        ObjectMeta(),
                        {},
                        parts_count(etag),
                    )
                )
            if not page.get("IsTruncated"):
                return found, False
            if len(found) >= limit:
                return found, True
            params = {"Prefix": space + prefix, "ContinuationToken": page["NextContinuationToken"]}

    # multipart

    def create_upload(
        self, bucket: str, key: str, meta: ObjectMeta, checksum_algorithm: str | None = None
    ) -> UploadInfo:
        external = self._key(bucket, key)
        self._require_space(bucket)
        result = self._call(
            "create_multipart_upload",
            Key=external,
            ContentType=meta.content_type,
            Metadata=encode_meta(meta, {}),
        )
        upload = UploadInfo(result["UploadId"], bucket, key, time.time(), meta, checksum_algorithm)
        record = {
            "upload_id": upload.upload_id,
            "bucket": bucket,
            "key": key,
            "initiated": upload.initiated,
            "meta": meta_dict(meta),
            "checksum_algorithm": checksum_algorithm,
        }
        self._call("put_object", Key=self._record_key(upload.upload_id), Body=json.dumps(record).encode())
        return upload

    def get_upload(self, upload_id: str) -> UploadInfo | None:
        try:
            response = self._call("get_object", Key=self._record_key(upload_id))
        except NoSuchObject:
            return None
        with response["Body"] as stream:
            record = json.loads(stream.read())
        return UploadInfo(
            upload_id,
            record["bucket"],
            record["key"],
            record["initiated"],
            meta_from_dict(record["meta"]),
            record["checksum_algorithm"],
        )

    def _require_upload(self, upload_id: str) -> tuple[UploadInfo, str]:
        upload = self.get_upload(upload_id)
        if upload is None:
            raise NoSuchUpload(upload_id)
        return upload, self._key(upload.bucket, upload.key)

    def put_part(
        self,
        upload_id: str,
        part_number: int,
        body: Readable,
        expected: Expected,
        checksum_algorithms: tuple[str, ...] = (),
    ) -> PartInfo:
        upload, external = self._require_upload(upload_id)
        algorithm = (upload.checksum_algorithm,) if upload.checksum_algorithm else ()
        target = {"Key": external, "UploadId": upload_id, "PartNumber": part_number}
        with self._staged(body, expected, (*checksum_algorithms, *algorithm)) as staged:
            digests = staged.digests
            checksums = digests.checksums()
            if checksums:
                # Recorded before the part exists, so a listed part never lacks its checksums.
                token = base64.urlsafe_b64encode(json.dumps(checksums).encode()).decode()
                record = f"{self._parts_prefix(upload_id)}{part_number:05d}/{digests.md5.hexdigest()}/{token}"
                self._call("put_object", Key=record, Body=b"")
            if staged.temp_key is not None:
                source = {"Bucket": self.bucket, "Key": staged.temp_key}
                etag = self._call("upload_part_copy", CopySource=source, **target)["CopyPartResult"]["ETag"]
            else:
                size, md5 = digests.size, digests.md5_base64()
                result = self._call(
                    "upload_part", Body=staged.spool, ContentLength=size, ContentMD5=md5, **target
                )
                etag = result["ETag"]
        return PartInfo(part_number, digests.size, etag, time.time(), checksums)

    def copy_part(
        self,
        upload_id: str,
        part_number: int,
        source_bucket: str,
        source_key: str,
        start: int,
        end: int | None,
    ) -> PartInfo:
        _, external = self._require_upload(upload_id)
        source = self._head_or_raise(source_bucket, source_key)
        last = source.size - 1 if end is None else min(end, source.size - 1)
        copy_source = {"Bucket": self.bucket, "Key": self._key(source_bucket, source_key)}
        result = self._call(
            "upload_part_copy",
            Key=external,
            UploadId=upload_id,
            PartNumber=part_number,
            CopySource=copy_source,
            CopySourceRange=f"bytes={start}-{last}",
            CopySourceIfMatch=source.etag,
        )
        return PartInfo(part_number, last - start + 1, result["CopyPartResult"]["ETag"], time.time(), {})

    def list_parts(self, upload_id: str) -> list[PartInfo]:
        _, external = self._require_upload(upload_id)
        recorded: dict[tuple[int, str], dict[str, str]] = {}
        prefix = self._parts_prefix(upload_id)
        for page in self._pages("list_objects_v2", Prefix=prefix):
            for item in page.get("Contents", []):
                number, md5, token = item["Key"][len(prefix) :].split("/")
                recorded[(int(number), md5)] = json.loads(base64.urlsafe_b64decode(token))
        parts: list[PartInfo] = []
        for page in self._pages("list_parts", Key=external, UploadId=upload_id):
            for item in page.get("Parts", []):
                number, etag = item["PartNumber"], item["ETag"]
                checksums = recorded.get((number, etag.strip('"')), {})
                modified = item["LastModified"].timestamp()
                parts.append(PartInfo(number, item["Size"], etag, modified, checksums))
        return parts

    def list_uploads(self, bucket: str) -> list[UploadInfo]:
        uploads: list[UploadInfo] = []
        for page in self._pages("list_multipart_uploads", Prefix=self._space(bucket)):
            for item in page.get("Uploads", []):
                upload = self.get_upload(item["UploadId"])
                # Uploads without a record are not ours to show (a crash inside create_upload).
                if upload is not None and upload.bucket == bucket:
                    uploads.append(upload)
        return sorted(uploads, key=lambda u: (u.key.encode("utf-8"), u.initiated))

    def complete_upload(self, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        upload, external = self._require_upload(upload_id)
        chosen = choose_parts({p.part_number: p for p in self.list_parts(upload_id)}, parts)
        result = self._call(
            "complete_multipart_upload",
            Key=external,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in chosen]},
        )
        self._forget(upload_id)
        etag = result["ETag"]
        size = sum(p.size for p in chosen)
        count = parts_count(etag) or len(chosen)
        return ObjectInfo(upload.bucket, upload.key, size, etag, time.time(), upload.meta, {}, count)

    def abort_upload(self, upload_id: str) -> None:
        _, external = self._require_upload(upload_id)
        self._abort_external(external, upload_id)
        self._forget(upload_id)

    def _abort_external(self, external: str, upload_id: str) -> None:
        # Already gone (aborted elsewhere, or by a lifecycle rule): the record goes all the same.
        with suppress(NoSuchUpload):
            self._call("abort_multipart_upload", Key=external, UploadId=upload_id)

    def _forget(self, upload_id: str) -> None:
        """Delete an upload's record and part checksums."""
        keys = [self._record_key(upload_id)]
        for page in self._pages("list_objects_v2", Prefix=self._parts_prefix(upload_id)):
            keys += [item["Key"] for item in page.get("Contents", [])]
        self._delete_keys(keys)

    # housekeeping

    def collect_garbage(self, older_than: float = 3600.0) -> int:
        """Remove what crashes left behind, if older than `older_than` seconds; returns how many.

        Temporary bodies, external uploads under a bucket space that have no record, records whose
        external upload is gone, and part checksums whose record is gone. The age guard spares the
        work in flight of any Sagemill process sharing the prefix.
        """
        cutoff = time.time() - older_than
        removed: list[str] = []
        for page in self._pages("list_objects_v2", Prefix=f"{self._internal}tmp/"):
            removed += [o["Key"] for o in page.get("Contents", []) if o["LastModified"].timestamp() < cutoff]
        aborted = 0
        for page in self._pages("list_multipart_uploads", Prefix=self._root):
            for item in page.get("Uploads", []):
                if item["Key"].startswith(self._internal) or item["Initiated"].timestamp() >= cutoff:
                    continue
                if self.get_upload(item["UploadId"]) is None:
                    self._abort_external(item["Key"], item["UploadId"])
                    aborted += 1
        live: set[str] = set()
        for page in self._pages("list_objects_v2", Prefix=f"{self._internal}uploads/"):
            for item in page.get("Contents", []):
                digest = item["Key"].rpartition("/")[2]
                if item["LastModified"].timestamp() >= cutoff or self._external_upload_exists(item["Key"]):
                    live.add(digest)
                else:
                    removed.append(item["Key"])
        for page in self._pages("list_objects_v2", Prefix=f"{self._internal}parts/"):
            for item in page.get("Contents", []):
                digest = item["Key"][len(f"{self._internal}parts/") :].partition("/")[0]
                if digest not in live and item["LastModified"].timestamp() < cutoff:
                    removed.append(item["Key"])
        self._delete_keys(removed)
        return len(removed) + aborted

    def _external_upload_exists(self, record_key: str) -> bool:
        try:
            response = self._call("get_object", Key=record_key)
        except NoSuchObject:
            return False
        with response["Body"] as stream:
            record = json.loads(stream.read())
        try:
            external = self._key(record["bucket"], record["key"])
            self._call("list_parts", Key=external, UploadId=record["upload_id"], MaxParts=1)
        except NoSuchUpload:
            return False
        return True


def _digest(upload_id: str) -> str:
    return hashlib.sha256(upload_id.encode()).hexdigest()[:32]


# Keeps the adapter and the port in step: mypy checks the assignment structurally.
_PORT: type[ObjectStore] = S3ObjectStore

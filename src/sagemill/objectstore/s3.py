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

The adapter is built in layers: s3_prefix.py (this layout, the calls, staging), s3_uploads.py
(multipart uploads and their records), and this module (bucket spaces, objects, garbage collection).

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

import time
from collections.abc import Iterator
from typing import Any

from sagemill.objectstore.base import (
    Expected,
    KeyTooLong,
    NoSuchObject,
    ObjectInfo,
    ObjectMeta,
    ObjectStore,
    PartInfo,
    Readable,
)
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
    object_info,
    parts_count,
)
from sagemill.objectstore.s3_uploads import S3Uploads

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


class S3ObjectStore(S3Uploads):
    """The ObjectStore port on an external S3-compatible store; see the module docstring."""

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

    # copies into uploads

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


# Keeps the adapter and the port in step: mypy checks the assignment structurally.
_PORT: type[ObjectStore] = S3ObjectStore

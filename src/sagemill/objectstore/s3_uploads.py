"""Multipart uploads on an external S3 store: the external uploads, their records and part checksums.

A layer of the S3ObjectStore adapter (objectstore/s3.py, whose docstring describes the layout).
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import suppress

from sagemill.objectstore.base import (
    Expected,
    NoSuchObject,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    PartInfo,
    Readable,
    UploadInfo,
    choose_parts,
)
from sagemill.objectstore.external import encode_meta, meta_dict, meta_from_dict, parts_count
from sagemill.objectstore.s3_prefix import S3Prefix


class S3Uploads(S3Prefix):
    """The ObjectStore port's multipart operations (but copy_part) on an external S3 store."""

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

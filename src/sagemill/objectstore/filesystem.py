"""The embedded ObjectStore: blob files under the data directory, catalogued in SQLite.

A write streams into a temporary file, is verified, fsynced and renamed to a random blob name, and
becomes visible when its catalog row commits; the blob it replaced is unlinked afterwards. A crash
before the commit leaves only an orphan blob (or a temporary file), which `collect_garbage` removes
at start-up. One process owns a root: garbage collection knows only its own writes in flight.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from sqlite3 import Connection

from sagemill.objectstore.base import (
    Expected,
    InvalidPart,
    NoSuchBucketSpace,
    NoSuchObject,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    ObjectStore,
    PartInfo,
    Readable,
    UploadInfo,
    choose_parts,
)
from sagemill.objectstore.blobs import BlobFiles
from sagemill.objectstore.checksums import multipart_etag
from sagemill.objectstore.index import (
    Catalog,
    key_bytes,
    meta_to_json,
    object_from_row,
    part_from_row,
    upload_from_row,
)
from sagemill.objectstore.streams import IteratorReader

# Reopening after a concurrent overwrite unlinked the blob we were about to open: a few tries
# always suffice unless the key is rewritten nonstop, which then surfaces as the OSError it is.
_OPEN_TRIES = 5
_PART_BLOBS = "SELECT part_number, blob FROM parts WHERE upload_id = ?"


class FilesystemObjectStore:
    """The ObjectStore port on local disk; see objectstore/base.py for the contract."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = BlobFiles(root)
        self.catalog = Catalog(root / "catalog.db")
        self.collect_garbage()

    def close(self) -> None:
        """Close the catalog's connections (the store is unusable afterwards)."""
        self.catalog.close()

    def _unlink(self, blobs: list[str]) -> None:
        self.blobs.unlink(blobs)

    def collect_garbage(self) -> None:
        """Remove temporary files and blobs no catalog row refers to (left by a crash)."""
        self.blobs.collect_garbage(self._referenced)

    def _referenced(self) -> set[str]:
        rows = self.catalog.query("SELECT blob FROM objects UNION SELECT blob FROM parts")
        return {r["blob"] for r in rows}

    # buckets

    def create_bucket_space(self, bucket: str) -> None:
        with self.catalog.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO spaces (bucket) VALUES (?)", (bucket,))

    def delete_bucket_space(self, bucket: str) -> None:
        with self.catalog.transaction() as conn:
            blobs = [
                r[0]
                for r in conn.execute(
                    "SELECT p.blob FROM parts p JOIN uploads u USING (upload_id) WHERE u.bucket = ?",
                    (bucket,),
                )
            ]
            conn.execute(
                "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?)",
                (bucket,),
            )
            conn.execute("DELETE FROM uploads WHERE bucket = ?", (bucket,))
            conn.execute("DELETE FROM spaces WHERE bucket = ?", (bucket,))
        self._unlink(blobs)

    def bucket_is_empty(self, bucket: str) -> bool:
        return not self.catalog.query("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (bucket,))

    def _require_space(self, bucket: str) -> None:
        if not self.catalog.query("SELECT 1 FROM spaces WHERE bucket = ?", (bucket,)):
            raise NoSuchBucketSpace(bucket)

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
        self._require_space(bucket)
        blob, digests = self.blobs.write(body, expected, checksum_algorithms)
        info = ObjectInfo(bucket, key, digests.size, digests.etag(), time.time(), meta, digests.checksums())
        self._commit_object(info, blob)
        return info

    def _commit_object(
        self,
        info: ObjectInfo,
        blob: str,
        also: Callable[[Connection], list[str]] | None = None,
    ) -> None:
        """Make `blob` the object's bytes in one transaction; `also` runs inside it too.

        `also` returns further blobs to unlink once the transaction has committed.
        """
        try:
            with self.catalog.transaction() as conn:
                extra = also(conn) if also is not None else []
                old = conn.execute(
                    "SELECT blob FROM objects WHERE bucket = ? AND key = ?",
                    (info.bucket, key_bytes(info.key)),
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        info.bucket,
                        key_bytes(info.key),
                        blob,
                        info.size,
                        info.etag,
                        info.last_modified,
                        meta_to_json(info.meta),
                        json.dumps(info.checksums),
                        info.parts_count,
                    ),
                )
        except BaseException:
            self._unlink([blob])
            raise
        finally:
            self.blobs.settle(blob)
        if old is not None and old[0] != blob:
            extra.append(old[0])
        self._unlink(extra)

    def _row(self, bucket: str, key: str) -> tuple[ObjectInfo, str] | None:
        rows = self.catalog.query(
            "SELECT * FROM objects WHERE bucket = ? AND key = ?", (bucket, key_bytes(key))
        )
        return (object_from_row(rows[0]), rows[0]["blob"]) if rows else None

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        found = self._row(bucket, key)
        return found[0] if found else None

    def open_object(
        self, bucket: str, key: str, start: int = 0, end: int | None = None
    ) -> tuple[ObjectInfo, Iterator[bytes]]:
        for attempt in range(_OPEN_TRIES):
            found = self._row(bucket, key)
            if found is None:
                raise NoSuchObject(key)
            info, blob = found
            last = info.size - 1 if end is None else min(end, info.size - 1)
            try:
                return info, self.blobs.read(blob, start, last)
            except FileNotFoundError:
                # Overwritten or deleted between reading the row and opening its blob: look again.
                if attempt == _OPEN_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def delete_object(self, bucket: str, key: str) -> bool:
        with self.catalog.transaction() as conn:
            old = conn.execute(
                "SELECT blob FROM objects WHERE bucket = ? AND key = ?", (bucket, key_bytes(key))
            ).fetchone()
            conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key_bytes(key)))
        if old is None:
            return False
        self._unlink([old[0]])
        return True

    def copy_object(
        self, source_bucket: str, source_key: str, bucket: str, key: str, meta: ObjectMeta
    ) -> ObjectInfo:
        self._require_space(bucket)
        source, stream = self.open_object(source_bucket, source_key)
        reader = IteratorReader(stream)
        blob, digests = self.blobs.write(reader, Expected(size=source.size), tuple(source.checksums))
        etag = source.etag if source.parts_count else digests.etag()
        info = ObjectInfo(
            bucket, key, digests.size, etag, time.time(), meta, digests.checksums(), source.parts_count
        )
        self._commit_object(info, blob)
        return info

    def list_objects(
        self, bucket: str, prefix: str = "", start_after: str = "", limit: int = 1000
    ) -> tuple[list[ObjectInfo], bool]:
        self._require_space(bucket)
        raw_prefix = key_bytes(prefix)
        rows = self.catalog.query(
            "SELECT * FROM objects WHERE bucket = ? AND key >= ? AND key > ? AND substr(key, 1, ?) = ?"
            " ORDER BY key LIMIT ?",
            (bucket, raw_prefix, key_bytes(start_after), len(raw_prefix), raw_prefix, limit + 1),
        )
        return [object_from_row(r) for r in rows[:limit]], len(rows) > limit

    # multipart

    def create_upload(
        self, bucket: str, key: str, meta: ObjectMeta, checksum_algorithm: str | None = None
    ) -> UploadInfo:
        self._require_space(bucket)
        upload = UploadInfo(uuid.uuid4().hex, bucket, key, time.time(), meta, checksum_algorithm)
        with self.catalog.transaction() as conn:
            conn.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?)",
                (
                    upload.upload_id,
                    bucket,
                    key_bytes(key),
                    upload.initiated,
                    meta_to_json(meta),
                    checksum_algorithm,
                ),
            )
        return upload

    def get_upload(self, upload_id: str) -> UploadInfo | None:
        rows = self.catalog.query("SELECT * FROM uploads WHERE upload_id = ?", (upload_id,))
        return upload_from_row(rows[0]) if rows else None

    def _require_upload(self, upload_id: str) -> UploadInfo:
        upload = self.get_upload(upload_id)
        if upload is None:
            raise NoSuchUpload(upload_id)
        return upload

    def put_part(
        self,
        upload_id: str,
        part_number: int,
        body: Readable,
        expected: Expected,
        checksum_algorithms: tuple[str, ...] = (),
    ) -> PartInfo:
        upload = self._require_upload(upload_id)
        algorithms = (
            *checksum_algorithms,
            *((upload.checksum_algorithm,) if upload.checksum_algorithm else ()),
        )
        blob, digests = self.blobs.write(body, expected, algorithms)
        part = PartInfo(part_number, digests.size, digests.etag(), time.time(), digests.checksums())
        self._commit_part(upload_id, part, blob)
        return part

    def _commit_part(self, upload_id: str, part: PartInfo, blob: str) -> None:
        try:
            with self.catalog.transaction() as conn:
                if conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                    raise NoSuchUpload(upload_id)
                old = conn.execute(
                    "SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?",
                    (upload_id, part.part_number),
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        upload_id,
                        part.part_number,
                        blob,
                        part.size,
                        part.etag,
                        part.last_modified,
                        json.dumps(part.checksums),
                    ),
                )
        except BaseException:
            self._unlink([blob])
            raise
        finally:
            self.blobs.settle(blob)
        if old is not None:
            self._unlink([old[0]])

    def copy_part(
        self,
        upload_id: str,
        part_number: int,
        source_bucket: str,
        source_key: str,
        start: int,
        end: int | None,
    ) -> PartInfo:
        self._require_upload(upload_id)
        _, stream = self.open_object(source_bucket, source_key, start, end)
        blob, digests = self.blobs.write(IteratorReader(stream), Expected(), ())
        part = PartInfo(part_number, digests.size, digests.etag(), time.time(), {})
        self._commit_part(upload_id, part, blob)
        return part

    def list_parts(self, upload_id: str) -> list[PartInfo]:
        self._require_upload(upload_id)
        rows = self.catalog.query(
            "SELECT * FROM parts WHERE upload_id = ? ORDER BY part_number", (upload_id,)
        )
        return [part_from_row(r) for r in rows]

    def list_uploads(self, bucket: str) -> list[UploadInfo]:
        rows = self.catalog.query("SELECT * FROM uploads WHERE bucket = ? ORDER BY key, initiated", (bucket,))
        return [upload_from_row(r) for r in rows]

    def complete_upload(self, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        upload = self._require_upload(upload_id)
        rows = self.catalog.query("SELECT * FROM parts WHERE upload_id = ?", (upload_id,))
        blobs = {r["part_number"]: r["blob"] for r in rows}
        chosen = choose_parts({r["part_number"]: part_from_row(r) for r in rows}, parts)
        reader = IteratorReader(
            chunk for part in chosen for chunk in self._read_part(blobs[part.part_number], part)
        )
        blob, digests = self.blobs.write(reader, Expected(size=sum(p.size for p in chosen)), ())
        info = ObjectInfo(
            upload.bucket,
            upload.key,
            digests.size,
            multipart_etag([p.etag for p in chosen]),
            time.time(),
            upload.meta,
            {},
            len(chosen),
        )

        def retire_upload(conn: Connection) -> list[str]:
            # In the object's own transaction, so a concurrent abort or part upload either happened
            # before (and we refuse) or waits until the upload is gone.
            now = {r[0]: r[1] for r in conn.execute(_PART_BLOBS, (upload_id,))}
            if conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                raise NoSuchUpload(upload_id)
            for part in chosen:
                if now.get(part.part_number) != blobs[part.part_number]:
                    raise InvalidPart(str(part.part_number))
            conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            return list(now.values())

        self._commit_object(info, blob, retire_upload)
        return info

    def _read_part(self, blob: str, part: PartInfo) -> Iterator[bytes]:
        try:
            yield from self.blobs.read(blob, 0, part.size - 1)
        except FileNotFoundError:
            # Replaced by a concurrent upload of the same part number since we listed the parts.
            raise InvalidPart(str(part.part_number)) from None

    def abort_upload(self, upload_id: str) -> None:
        with self.catalog.transaction() as conn:
            blobs = [r[0] for r in conn.execute("SELECT blob FROM parts WHERE upload_id = ?", (upload_id,))]
            conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            deleted = conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,)).rowcount
        self._unlink(blobs)
        if not deleted:
            raise NoSuchUpload(upload_id)


# Keeps the adapter and the port in step: mypy checks the assignment structurally.
_PORT: type[ObjectStore] = FilesystemObjectStore

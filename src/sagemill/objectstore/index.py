"""The filesystem adapter's catalog: which blob file holds which (bucket, key), in a local SQLite file.

Keys never touch the filesystem: blobs are named by random ids, so no key can traverse, collide or
overflow a file name. The catalog row is the commit point of every write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sagemill.objectstore.base import ObjectInfo, ObjectMeta, PartInfo, UploadInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (bucket TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS objects (
  bucket TEXT NOT NULL, key BLOB NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
  etag TEXT NOT NULL, last_modified REAL NOT NULL, meta TEXT NOT NULL, checksums TEXT NOT NULL,
  parts_count INTEGER, PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS uploads (
  upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, initiated REAL NOT NULL,
  meta TEXT NOT NULL, checksum_algorithm TEXT);
CREATE TABLE IF NOT EXISTS parts (
  upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,
  etag TEXT NOT NULL, last_modified REAL NOT NULL, checksums TEXT NOT NULL,
  PRIMARY KEY (upload_id, part_number));
"""


def meta_to_json(meta: ObjectMeta) -> str:
    return json.dumps({"ct": meta.content_type, "um": meta.user_metadata, "h": meta.headers})


def meta_from_json(text: str) -> ObjectMeta:
    data = json.loads(text)
    return ObjectMeta(data["ct"], data["um"], data["h"])


def key_bytes(key: str) -> bytes:
    # Stored as UTF-8 bytes so SQLite orders keys as S3 does (by UTF-8 code units).
    return key.encode("utf-8", "surrogatepass")


class Catalog:
    """Thread-safe access to the catalog; one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        # Every thread's connection, so close() can reach them all.
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._connection().executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        conn = self._connection()
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, params).fetchall())


def object_from_row(row: sqlite3.Row) -> ObjectInfo:
    return ObjectInfo(
        bucket=row["bucket"],
        key=bytes(row["key"]).decode("utf-8", "surrogatepass"),
        size=row["size"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        meta=meta_from_json(row["meta"]),
        checksums=json.loads(row["checksums"]),
        parts_count=row["parts_count"],
    )


def part_from_row(row: sqlite3.Row) -> PartInfo:
    return PartInfo(
        row["part_number"], row["size"], row["etag"], row["last_modified"], json.loads(row["checksums"])
    )


def upload_from_row(row: sqlite3.Row) -> UploadInfo:
    return UploadInfo(
        upload_id=row["upload_id"],
        bucket=row["bucket"],
        key=bytes(row["key"]).decode("utf-8", "surrogatepass"),
        initiated=row["initiated"],
        meta=meta_from_json(row["meta"]),
        checksum_algorithm=row["checksum_algorithm"],
    )

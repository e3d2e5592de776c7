"""Crash safety of the filesystem ObjectStore: a writer killed at each step leaves no partial object."""

from __future__ import annotations

import io
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sagemill.objectstore.base import Expected, ObjectMeta
from sagemill.objectstore.filesystem import FilesystemObjectStore

MiB = 1024 * 1024
OLD = b"the old version"
NEW_SIZE = 6 * MiB

# Run in a child process that dies by SIGKILL at the step named by argv[2]: no cleanup, no atexit.
CHILD = """
import os, signal, sys, time
from pathlib import Path
from sagemill.objectstore.base import Expected, ObjectMeta
from sagemill.objectstore.filesystem import FilesystemObjectStore

root, step, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
store = FilesystemObjectStore(root)

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if step == "before-commit":
    store._commit_object = die
elif step == "before-unlink":
    store._unlink = die

class Body:
    def __init__(self):
        self.sent = 0

    def read(self, n=-1):
        if step == "mid-body" and self.sent >= size // 2:
            print("stalled", flush=True)
            time.sleep(60)
        n = min(n if n >= 0 else size, size - self.sent, 1 << 20)
        self.sent += n
        return b"n" * n

if step == "complete":
    upload = store.list_uploads("b")[0]
    store._commit_object = die
    parts = [(p.part_number, p.etag) for p in store.list_parts(upload.upload_id)]
    store.complete_upload(upload.upload_id, parts)
else:
    store.put_object("b", "k", Body(), ObjectMeta(), Expected(size=size))
print("survived", flush=True)
"""


def blob_files(root: Path) -> set[str]:
    return {p.name for p in (root / "blobs").glob("*/*")}


def temp_files(root: Path) -> set[str]:
    return {p.name for p in (root / "tmp").iterdir()}


def referenced_blobs(root: Path) -> set[str]:
    conn = sqlite3.connect(root / "catalog.db")
    try:
        return {r[0] for r in conn.execute("SELECT blob FROM objects UNION SELECT blob FROM parts")}
    finally:
        conn.close()


def assert_consistent(root: Path) -> None:
    """The catalog never names a missing blob, and (after collection) no blob is unnamed."""
    assert referenced_blobs(root) == blob_files(root)
    assert temp_files(root) == set()


def kill_writer_at(root: Path, step: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), step, str(NEW_SIZE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    if step == "mid-body":
        assert child.stdout.readline().strip() == "stalled"
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stdout.read()
    return child


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A store holding OLD at b/k, closed again so a child process can take it over."""
    root = tmp_path / "objects"
    store = FilesystemObjectStore(root)
    store.create_bucket_space("b")
    store.put_object("b", "k", io.BytesIO(OLD), ObjectMeta(), Expected(size=len(OLD)))
    store.close()
    return root


def reopen_and_read(root: Path) -> bytes:
    store = FilesystemObjectStore(root)
    try:
        _, chunks = store.open_object("b", "k")
        data = b"".join(chunks)
        assert [i.key for i in store.list_objects("b")[0]] == ["k"]
        return data
    finally:
        store.close()


def test_killed_mid_body_leaves_the_old_object_and_a_temp_file_that_is_collected(root: Path) -> None:
    kill_writer_at(root, "mid-body")
    assert len(temp_files(root)) == 1  # the partial body, never renamed into a blob
    assert reopen_and_read(root) == OLD
    assert_consistent(root)


def test_killed_between_blob_rename_and_catalog_commit(root: Path) -> None:
    kill_writer_at(root, "before-commit")
    orphans = blob_files(root) - referenced_blobs(root)
    assert len(orphans) == 1  # the verified new blob that no row names
    assert reopen_and_read(root) == OLD
    assert_consistent(root)


def test_killed_after_commit_before_the_old_blob_is_unlinked(root: Path) -> None:
    kill_writer_at(root, "before-unlink")
    assert len(blob_files(root) - referenced_blobs(root)) == 1  # the replaced blob
    assert reopen_and_read(root) == b"n" * NEW_SIZE
    assert_consistent(root)


def test_killed_while_completing_a_multipart_upload(root: Path) -> None:
    store = FilesystemObjectStore(root)
    upload = store.create_upload("b", "k", ObjectMeta())
    parts = [data * (5 * MiB) for data in (b"1",)] + [b"tail"]
    for number, data in enumerate(parts, start=1):
        store.put_part(upload.upload_id, number, io.BytesIO(data), Expected(size=len(data)))
    store.close()
    kill_writer_at(root, "complete")
    assert reopen_and_read(root) == OLD
    assert_consistent(root)
    store = FilesystemObjectStore(root)
    try:
        # The upload survived whole and can still be completed.
        listed = store.list_parts(upload.upload_id)
        assert [p.size for p in listed] == [5 * MiB, 4]
        store.complete_upload(upload.upload_id, [(p.part_number, p.etag) for p in listed])
        _, chunks = store.open_object("b", "k")
        assert b"".join(chunks) == b"".join(parts)
    finally:
        store.close()
    assert_consistent(root)


def test_garbage_collection_while_writing_never_takes_a_live_blob(root: Path) -> None:
    store = FilesystemObjectStore(root)
    stop = threading.Event()
    errors: list[BaseException] = []

    def collect() -> None:
        try:
            while not stop.is_set():
                store.collect_garbage()
        except BaseException as exc:
            errors.append(exc)

    collector = threading.Thread(target=collect)
    collector.start()
    try:
        for i in range(25):
            data = f"version {i}".encode() * 100
            store.put_object("b", f"k{i % 7}", io.BytesIO(data), ObjectMeta(), Expected(size=len(data)))
            upload = store.create_upload("b", "mp", ObjectMeta())
            part = store.put_part(upload.upload_id, 1, io.BytesIO(data), Expected())
            store.complete_upload(upload.upload_id, [(1, part.etag)])
    finally:
        stop.set()
        collector.join()
    assert not errors
    for info in store.list_objects("b")[0]:
        _, chunks = store.open_object("b", info.key)
        assert len(b"".join(chunks)) == info.size
    store.collect_garbage()
    store.close()
    assert_consistent(root)

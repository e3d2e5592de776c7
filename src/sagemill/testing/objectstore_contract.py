"""The ObjectStore port's contract as a pytest suite that every adapter must pass.

Use it by subclassing `ObjectStoreContract` in a test module and providing a `store` fixture that
yields an ObjectStore holding no bucket spaces (a fresh root directory, a fresh key prefix, …):

    class TestMyObjectStore(ObjectStoreContract):
        @pytest.fixture
        def store(self) -> Iterator[ObjectStore]: ...

Class attributes state an adapter's documented limits: `max_key_bytes` (the longest key it holds;
S3's 1024 unless a key prefix eats into it), `memory_limit` (peak traced memory for a 64 MiB round
trip) and `large_body_size` (a body big enough to take the adapter's path for large bodies, if it
has one). The suite speaks only to the port (objectstore/base.py), so it holds for any adapter.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import re
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import google_crc32c
import pytest

from sagemill.objectstore.base import (
    MAX_KEY_BYTES,
    MIN_PART_SIZE,
    ChecksumMismatch,
    EntityTooSmall,
    Expected,
    IncompleteBody,
    InvalidPart,
    InvalidPartOrder,
    KeyTooLong,
    NoSuchBucketSpace,
    NoSuchObject,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    ObjectStore,
)

MiB = 1024 * 1024
BUCKET = "contract-bucket"
OTHER = "contract-bucket-2"  # BUCKET is a prefix of it: spaces must not leak into each other.
META = ObjectMeta(
    content_type="text/plain; charset=utf-8",
    user_metadata={"owner": "ada", "note": "résumé ✓"},
    headers={"Content-Encoding": "gzip", "Cache-Control": "no-cache"},
)
ALGORITHMS = ("CRC32", "CRC32C", "SHA1", "SHA256")
# Keys a path-based or URL-decoding store would mangle; each must round-trip byte for byte.
ODD_KEYS = [
    "..",
    "../escape",
    "a/../b",
    "./a",
    "/leading",
    "a//b",
    "trailing/",
    "%2F",
    "a%2Fb",
    "a/b",
    "100%",
    "sp ace",
    "plus+sign",
    "q?x=1&y#z",
    "back\\slash",
    "quote'\"",
    "tab\there",
    "é",
    "日本語/キー",
    "😀 emoji",
    "\ue000private",
]

T = TypeVar("T")


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def reference_checksums(data: bytes) -> dict[str, str]:
    """The four flexible checksums, computed independently of the adapters' own code."""
    crc32c = google_crc32c.Checksum(data)  # type: ignore[no-untyped-call]
    raw = {
        "CRC32": zlib.crc32(data).to_bytes(4, "big"),
        "CRC32C": bytes(crc32c.digest()),  # type: ignore[no-untyped-call]
        "SHA1": hashlib.sha1(data, usedforsecurity=False).digest(),
        "SHA256": hashlib.sha256(data).digest(),
    }
    return {name: base64.b64encode(value).decode() for name, value in raw.items()}


def wrong(value: str) -> str:
    """A well-formed digest of the same length that is not `value`."""
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 0xFF
    return base64.b64encode(bytes(raw)).decode()


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def multipart_etag(parts: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f'"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(parts)}"'


class LazyBody:
    """A body of `size` bytes made as it is read, so the test itself holds none of it."""

    # A prime period, so chunks of any power-of-two size never line up with the pattern.
    _PATTERN = random.Random(7).randbytes(65_521)

    def __init__(self, size: int) -> None:
        self.size = size
        self.offset = 0

    def read(self, n: int = -1, /) -> bytes:
        n = self.size - self.offset if n < 0 else min(n, self.size - self.offset)
        out = bytearray()
        while len(out) < n:
            start = (self.offset + len(out)) % len(self._PATTERN)
            out += self._PATTERN[start : start + n - len(out)]
        self.offset += n
        return bytes(out)


class FailingBody:
    """Yields `good` bytes, then fails the way a client that hangs up does."""

    def __init__(self, good: bytes) -> None:
        self._stream = io.BytesIO(good)

    def read(self, n: int = -1, /) -> bytes:
        chunk = self._stream.read(n)
        if not chunk:
            raise ConnectionResetError("client went away")
        return chunk


def race(workers: int, action: Callable[[int], T]) -> list[T | BaseException]:
    """Run `action(i)` on `workers` threads released together; each result or exception, in order."""
    barrier = threading.Barrier(workers)

    def run(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return action(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(workers)))


_MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """An S3-compatible server (moto's, needs `moto[server]`) on 127.0.0.1; yields its endpoint URL.

    It runs in a child process: moto holds whole bodies in memory, which must not count against the
    adapter in this process's tracemalloc, and a separate process is what a real store is anyway.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", _MOTO_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        port = child.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("moto's S3 server did not start; is moto[server] installed?")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stdin.close()  # the child's cue to stop
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


class ObjectStoreContract:
    """The contract of objectstore/base.py; subclasses provide a `store` fixture (no bucket spaces)."""

    max_key_bytes = MAX_KEY_BYTES
    memory_limit = 16 * MiB
    large_body_size = 9 * MiB

    # helpers

    @pytest.fixture
    def space(self, store: ObjectStore) -> ObjectStore:
        store.create_bucket_space(BUCKET)
        return store

    @staticmethod
    def put(
        store: ObjectStore,
        key: str,
        data: bytes,
        meta: ObjectMeta = META,
        expected: Expected | None = None,
        algorithms: tuple[str, ...] = (),
        bucket: str = BUCKET,
    ) -> ObjectInfo:
        expected = expected if expected is not None else Expected(size=len(data))
        return store.put_object(bucket, key, io.BytesIO(data), meta, expected, algorithms)

    @staticmethod
    def read(
        store: ObjectStore, key: str, start: int = 0, end: int | None = None, bucket: str = BUCKET
    ) -> bytes:
        _, chunks = store.open_object(bucket, key, start, end)
        return b"".join(chunks)

    @staticmethod
    def keys(store: ObjectStore, bucket: str = BUCKET, prefix: str = "") -> list[str]:
        found, more = store.list_objects(bucket, prefix, limit=1000)
        assert not more
        return [info.key for info in found]

    def assert_same(self, got: ObjectInfo, want: ObjectInfo) -> None:
        """Equal in everything but last_modified, which backends may round to the second."""
        assert (got.bucket, got.key, got.size, got.etag) == (want.bucket, want.key, want.size, want.etag)
        assert (got.meta, got.checksums, got.parts_count) == (want.meta, want.checksums, want.parts_count)
        assert abs(got.last_modified - want.last_modified) < 2

    # put, head, open

    def test_put_then_head_and_open_round_trip(self, space: ObjectStore) -> None:
        data = data_of(3000)
        before = time.time()
        info = self.put(space, "k", data)
        assert (info.bucket, info.key, info.size, info.etag) == (BUCKET, "k", 3000, md5_etag(data))
        assert info.meta == META and info.parts_count is None
        assert before - 2 <= info.last_modified <= time.time() + 2
        head = space.head_object(BUCKET, "k")
        assert head is not None
        self.assert_same(head, info)
        opened, chunks = space.open_object(BUCKET, "k")
        self.assert_same(opened, info)
        assert b"".join(chunks) == data

    def test_missing_objects_and_spaces(self, space: ObjectStore) -> None:
        assert space.head_object(BUCKET, "absent") is None
        with pytest.raises(NoSuchObject):
            space.open_object(BUCKET, "absent")
        with pytest.raises(NoSuchBucketSpace):
            self.put(space, "k", b"x", bucket="no-such-space")
        with pytest.raises(NoSuchBucketSpace):
            space.list_objects("no-such-space")

    @pytest.mark.parametrize(
        ("start", "end", "want"),
        [
            (0, 0, slice(0, 1)),
            (999, 999, slice(999, 1000)),
            (999, None, slice(999, 1000)),
            (10, 19, slice(10, 20)),
            (500, None, slice(500, 1000)),
            (990, 5000, slice(990, 1000)),
            (0, None, slice(0, 1000)),
        ],
        ids=["first-byte", "last-byte", "last-byte-open", "middle", "suffix", "clipped", "whole"],
    )
    def test_ranges_are_inclusive_and_clipped(
        self, space: ObjectStore, start: int, end: int | None, want: slice
    ) -> None:
        data = data_of(1000, seed=1)
        self.put(space, "r", data)
        info, chunks = space.open_object(BUCKET, "r", start, end)
        assert info.size == 1000 and info.etag == md5_etag(data)
        assert b"".join(chunks) == data[want]

    def test_zero_length_objects(self, space: ObjectStore) -> None:
        info = self.put(space, "empty", b"", algorithms=ALGORITHMS)
        assert info.size == 0 and info.etag == md5_etag(b"")
        assert info.checksums == reference_checksums(b"")
        assert self.read(space, "empty") == b""
        head = space.head_object(BUCKET, "empty")
        assert head is not None and head.size == 0
        assert self.keys(space) == ["empty"]

    def test_overwrite_replaces_bytes_and_metadata(self, space: ObjectStore) -> None:
        self.put(space, "k", b"old", META)
        new_meta = ObjectMeta("application/json", {"v": "2"}, {})
        info = self.put(space, "k", b"new!", new_meta)
        head = space.head_object(BUCKET, "k")
        assert head is not None
        self.assert_same(head, info)
        assert head.meta == new_meta and head.etag == md5_etag(b"new!")
        assert self.read(space, "k") == b"new!"
        assert self.keys(space) == ["k"]

    def test_an_open_stream_keeps_reading_the_version_it_opened(self, space: ObjectStore) -> None:
        old, new = data_of(3 * MiB, seed=2), data_of(2 * MiB, seed=3)
        self.put(space, "k", old)
        started_info, started = space.open_object(BUCKET, "k")
        first = next(started)
        unstarted_info, unstarted = space.open_object(BUCKET, "k", 5, None)
        self.put(space, "k", new)
        assert first + b"".join(started) == old
        assert b"".join(unstarted) == old[5:]
        assert started_info.etag == unstarted_info.etag == md5_etag(old)
        _, after_delete = space.open_object(BUCKET, "k")
        space.delete_object(BUCKET, "k")
        assert b"".join(after_delete) == new

    # keys

    @pytest.mark.parametrize("key", ODD_KEYS)
    def test_keys_are_stored_exactly(self, space: ObjectStore, key: str) -> None:
        info = self.put(space, key, key.encode())
        assert info.key == key
        head = space.head_object(BUCKET, key)
        assert head is not None and head.key == key
        assert self.read(space, key) == key.encode()
        assert self.keys(space) == [key]

    def test_odd_keys_stay_distinct_and_list_in_utf8_order(self, space: ObjectStore) -> None:
        for key in ODD_KEYS:
            self.put(space, key, key.encode())
        assert self.keys(space) == utf8_sorted(ODD_KEYS)
        for key in ODD_KEYS:
            assert self.read(space, key) == key.encode()

    def test_a_slash_and_an_encoded_slash_are_different_keys(self, space: ObjectStore) -> None:
        self.put(space, "a/b", b"slash")
        self.put(space, "a%2Fb", b"encoded")
        assert self.read(space, "a/b") == b"slash"
        assert self.read(space, "a%2Fb") == b"encoded"
        assert space.delete_object(BUCKET, "a%2Fb")
        assert self.read(space, "a/b") == b"slash"
        assert self.keys(space) == ["a/b"]

    def test_keys_as_long_as_the_limit(self, space: ObjectStore) -> None:
        limit = self.max_key_bytes
        longest = [
            "k" * limit,
            "é" * (limit // 2) + "x" * (limit % 2),
            "😀" * (limit // 4) + "y" * (limit % 4),
        ]
        for key in longest:
            assert len(key.encode()) == limit
            self.put(space, key, key.encode()[:10])
            assert self.read(space, key) == key.encode()[:10]
        assert self.keys(space) == utf8_sorted(longest)

    def test_keys_past_the_limit_are_refused_cleanly(self, space: ObjectStore) -> None:
        # An adapter that holds every key S3 allows may hold longer ones too (the S3 service refuses
        # them first); one with a tighter limit must refuse cleanly. Both kinds are checked here.
        key = "z" * (max(self.max_key_bytes, MAX_KEY_BYTES) + 1)
        if self.max_key_bytes >= MAX_KEY_BYTES:
            self.put(space, key, b"x")
            assert self.read(space, key) == b"x"
            return
        key = "z" * (self.max_key_bytes + 1)
        with pytest.raises(KeyTooLong):
            self.put(space, key, b"x")
        with pytest.raises(KeyTooLong):
            space.create_upload(BUCKET, key, META)
        assert self.keys(space) == []

    # listing

    # U+FFFD and U+E000 sort before U+1F600 in UTF-8 (and code point) order but after it in UTF-16
    # order. (Not U+FFFF: XML cannot carry it, and moto echoes StartAfter into XML unencoded.)
    LISTED = ["a", "a/", "a/b", "a/c/d", "a0", "a b", "a!", "B", "b", "é", "\ue000", "\ufffd", "😀"]

    def test_listing_is_in_utf8_byte_order(self, space: ObjectStore) -> None:
        for key in reversed(self.LISTED):
            self.put(space, key, b"x")
        listed, more = space.list_objects(BUCKET)
        assert [i.key for i in listed] == utf8_sorted(self.LISTED) and not more
        assert [i.key for i in listed][-3:] == ["\ue000", "\ufffd", "😀"]
        assert all(i.size == 1 and i.etag == md5_etag(b"x") and i.parts_count is None for i in listed)

    @pytest.mark.parametrize("page", [1, 2, 5])
    def test_listing_pages_with_start_after(self, space: ObjectStore, page: int) -> None:
        for key in self.LISTED:
            self.put(space, key, b"x")
        seen: list[str] = []
        after = ""
        while True:
            listed, more = space.list_objects(BUCKET, "", after, page)
            assert len(listed) <= page
            seen += [i.key for i in listed]
            if not more:
                break
            assert len(listed) == page
            after = listed[-1].key
        assert seen == utf8_sorted(self.LISTED)

    def test_listing_by_prefix_and_start_after(self, space: ObjectStore) -> None:
        for key in self.LISTED:
            self.put(space, key, b"x")
        assert self.keys(space, prefix="a/") == ["a/", "a/b", "a/c/d"]
        assert self.keys(space, prefix="a") == utf8_sorted([k for k in self.LISTED if k.startswith("a")])
        assert [i.key for i in space.list_objects(BUCKET, "a", "a/b")[0]] == ["a/c/d", "a0"]
        assert [i.key for i in space.list_objects(BUCKET, "a/", "0")[0]] == ["a/", "a/b", "a/c/d"]
        assert space.list_objects(BUCKET, "", "😀") == ([], False)
        assert space.list_objects(BUCKET, "zzz") == ([], False)
        exact, more = space.list_objects(BUCKET, "a/", "", 3)
        assert len(exact) == 3 and not more

    # delete

    def test_delete(self, space: ObjectStore) -> None:
        self.put(space, "k", b"x")
        self.put(space, "k2", b"y")
        assert space.delete_object(BUCKET, "k") is True
        assert space.head_object(BUCKET, "k") is None
        with pytest.raises(NoSuchObject):
            space.open_object(BUCKET, "k")
        assert space.delete_object(BUCKET, "k") is False
        assert self.keys(space) == ["k2"]

    # copy

    def test_copy_takes_new_metadata_and_keeps_bytes_and_checksums(self, space: ObjectStore) -> None:
        space.create_bucket_space(OTHER)
        data = data_of(4000, seed=4)
        source = self.put(space, "src", data, algorithms=("SHA256", "CRC32C"))
        new_meta = ObjectMeta("image/png", {"copied": "yes"}, {"Cache-Control": "max-age=60"})
        copy = space.copy_object(BUCKET, "src", OTHER, "dst/key", new_meta)
        assert (copy.bucket, copy.key, copy.size, copy.etag) == (OTHER, "dst/key", 4000, source.etag)
        assert copy.meta == new_meta and copy.checksums == source.checksums
        head = space.head_object(OTHER, "dst/key")
        assert head is not None
        self.assert_same(head, copy)
        assert self.read(space, "dst/key", bucket=OTHER) == data
        assert space.head_object(BUCKET, "src") is not None

    def test_copy_onto_itself_replaces_metadata(self, space: ObjectStore) -> None:
        self.put(space, "k", b"same bytes")
        new_meta = ObjectMeta("text/csv", {"v": "2"}, {})
        copy = space.copy_object(BUCKET, "k", BUCKET, "k", new_meta)
        head = space.head_object(BUCKET, "k")
        assert head is not None and head.meta == new_meta and head.etag == copy.etag
        assert self.read(space, "k") == b"same bytes"

    def test_copy_failures(self, space: ObjectStore) -> None:
        with pytest.raises(NoSuchObject):
            space.copy_object(BUCKET, "absent", BUCKET, "dst", META)
        self.put(space, "src", b"x")
        with pytest.raises(NoSuchBucketSpace):
            space.copy_object(BUCKET, "src", "no-such-space", "dst", META)
        assert self.keys(space) == ["src"]

    # checksums and sizes

    def test_requested_checksums_are_computed_and_kept(self, space: ObjectStore) -> None:
        data = data_of(5000, seed=5)
        info = self.put(space, "k", data, algorithms=ALGORITHMS)
        assert info.checksums == reference_checksums(data)
        head = space.head_object(BUCKET, "k")
        assert head is not None and head.checksums == reference_checksums(data)

    def test_matching_expected_digests_are_accepted(self, space: ObjectStore) -> None:
        data = data_of(5000, seed=6)
        expected = Expected(len(data), md5_base64(data), reference_checksums(data))
        info = self.put(space, "k", data, expected=expected)
        assert info.checksums == reference_checksums(data)
        assert self.read(space, "k") == data

    @pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
    @pytest.mark.parametrize("algorithm", ["MD5", *ALGORITHMS])
    def test_a_digest_mismatch_stores_nothing(self, space: ObjectStore, algorithm: str, large: bool) -> None:
        old = b"the version that must survive"
        kept = self.put(space, "k", old)
        data = data_of(self.large_body_size if large else 3000, seed=8)
        good = reference_checksums(data)
        if algorithm == "MD5":
            expected = Expected(len(data), wrong(md5_base64(data)), good)
        else:
            expected = Expected(len(data), md5_base64(data), {**good, algorithm: wrong(good[algorithm])})
        for key in ("k", "fresh"):
            with pytest.raises(ChecksumMismatch) as raised:
                self.put(space, key, data, expected=expected)
            assert raised.value.algorithm == algorithm
        head = space.head_object(BUCKET, "k")
        assert head is not None
        self.assert_same(head, kept)
        assert self.read(space, "k") == old
        assert space.head_object(BUCKET, "fresh") is None
        assert self.keys(space) == ["k"]

    @pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
    def test_a_short_body_stores_nothing(self, space: ObjectStore, large: bool) -> None:
        self.put(space, "k", b"old")
        size = self.large_body_size if large else 3000
        data = data_of(size - 1, seed=9)
        for key in ("k", "fresh"):
            with pytest.raises(IncompleteBody):
                self.put(space, key, data, expected=Expected(size=size))
        assert self.read(space, "k") == b"old"
        assert self.keys(space) == ["k"]

    @pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
    def test_a_body_that_fails_midway_stores_nothing(self, space: ObjectStore, large: bool) -> None:
        size = self.large_body_size if large else 3000
        data = data_of(size, seed=10)
        with pytest.raises(ConnectionResetError):
            space.put_object(BUCKET, "k", FailingBody(data[: size // 2]), META, Expected(size=size))
        with pytest.raises(ConnectionResetError):
            space.put_object(BUCKET, "k", FailingBody(data[: size // 2]), META, Expected())
        assert self.keys(space) == []

    def test_no_more_than_the_declared_size_is_read(self, space: ObjectStore) -> None:
        info = self.put(space, "k", b"0123456789", expected=Expected(size=4))
        assert info.size == 4 and self.read(space, "k") == b"0123"

    def test_a_body_of_unknown_size_is_measured(self, space: ObjectStore) -> None:
        for size in (0, 1000, self.large_body_size):
            data = data_of(size, seed=size)
            info = self.put(space, f"k{size}", data, expected=Expected(), algorithms=("CRC32",))
            assert info.size == size and info.etag == md5_etag(data)
            assert self.read(space, f"k{size}") == data

    # multipart

    def test_parts_are_invisible_until_complete(self, space: ObjectStore) -> None:
        part1, part2 = data_of(MIN_PART_SIZE, seed=11), data_of(1234, seed=12)
        upload = space.create_upload(BUCKET, "mp", META)
        assert (upload.bucket, upload.key, upload.meta, upload.checksum_algorithm) == (
            BUCKET,
            "mp",
            META,
            None,
        )
        assert space.get_upload(upload.upload_id) == upload
        p1 = space.put_part(upload.upload_id, 1, io.BytesIO(part1), Expected(size=len(part1)))
        p2 = space.put_part(upload.upload_id, 2, io.BytesIO(part2), Expected(size=len(part2)))
        assert (p1.part_number, p1.size, p1.etag) == (1, len(part1), md5_etag(part1))
        assert (p2.part_number, p2.size, p2.etag) == (2, len(part2), md5_etag(part2))
        assert space.head_object(BUCKET, "mp") is None
        assert self.keys(space) == [] and space.bucket_is_empty(BUCKET)
        assert [u.upload_id for u in space.list_uploads(BUCKET)] == [upload.upload_id]
        listed = space.list_parts(upload.upload_id)
        assert [(p.part_number, p.size, p.etag) for p in listed] == [
            (1, p1.size, p1.etag),
            (2, p2.size, p2.etag),
        ]

        info = space.complete_upload(upload.upload_id, [(1, p1.etag), (2, p2.etag.strip('"'))])
        assert re.fullmatch(r'"[0-9a-f]{32}-2"', info.etag), info.etag
        assert info.etag == multipart_etag([part1, part2]) and info.parts_count == 2
        assert (info.bucket, info.key, info.size, info.meta) == (BUCKET, "mp", len(part1) + len(part2), META)
        head = space.head_object(BUCKET, "mp")
        assert head is not None
        assert (head.size, head.etag, head.meta, head.parts_count) == (info.size, info.etag, META, 2)
        assert self.read(space, "mp") == part1 + part2
        assert (
            self.read(space, "mp", MIN_PART_SIZE - 2, MIN_PART_SIZE + 1)
            == (part1 + part2)[MIN_PART_SIZE - 2 : MIN_PART_SIZE + 2]
        )
        assert space.get_upload(upload.upload_id) is None
        assert space.list_uploads(BUCKET) == []
        with pytest.raises(NoSuchUpload):
            space.put_part(upload.upload_id, 3, io.BytesIO(b"late"), Expected())

    def test_complete_refuses_parts_it_cannot_join(self, space: ObjectStore) -> None:
        part1, part2 = data_of(MIN_PART_SIZE, seed=13), data_of(100, seed=14)
        upload = space.create_upload(BUCKET, "mp", META)
        uid = upload.upload_id
        p1 = space.put_part(uid, 1, io.BytesIO(part1), Expected())
        p2 = space.put_part(uid, 2, io.BytesIO(part2), Expected())
        small = space.put_part(uid, 3, io.BytesIO(b"tiny"), Expected())
        refusals: list[tuple[list[tuple[int, str]], type[Exception]]] = [
            ([(1, p1.etag), (2, md5_etag(b"other"))], InvalidPart),
            ([(1, p1.etag), (9, p2.etag)], InvalidPart),
            ([], InvalidPart),
            ([(2, p2.etag), (1, p1.etag)], InvalidPartOrder),
            ([(1, p1.etag), (1, p1.etag)], InvalidPartOrder),
            ([(1, p1.etag), (3, small.etag), (2, p2.etag)], InvalidPartOrder),
            ([(1, p1.etag), (2, p2.etag), (3, small.etag)], EntityTooSmall),
        ]
        for parts, error in refusals:
            with pytest.raises(error):
                space.complete_upload(uid, parts)
            assert space.head_object(BUCKET, "mp") is None
        assert [p.part_number for p in space.list_parts(uid)] == [1, 2, 3]
        info = space.complete_upload(uid, [(1, p1.etag), (3, small.etag)])
        assert self.read(space, "mp") == part1 + b"tiny"
        assert info.etag == multipart_etag([part1, b"tiny"])

    def test_a_part_uploaded_again_replaces_the_first(self, space: ObjectStore) -> None:
        first, second = data_of(MIN_PART_SIZE, seed=15), data_of(MIN_PART_SIZE, seed=16)
        uid = space.create_upload(BUCKET, "mp", META).upload_id
        old = space.put_part(uid, 1, io.BytesIO(first), Expected())
        new = space.put_part(uid, 1, io.BytesIO(second), Expected())
        last = space.put_part(uid, 2, io.BytesIO(b"end"), Expected())
        assert [(p.part_number, p.etag) for p in space.list_parts(uid)] == [(1, new.etag), (2, last.etag)]
        with pytest.raises(InvalidPart):
            space.complete_upload(uid, [(1, old.etag), (2, last.etag)])
        space.complete_upload(uid, [(1, new.etag), (2, last.etag)])
        assert self.read(space, "mp") == second + b"end"

    def test_abort_and_unknown_uploads(self, space: ObjectStore) -> None:
        uid = space.create_upload(BUCKET, "mp", META).upload_id
        space.put_part(uid, 1, io.BytesIO(b"part"), Expected())
        space.abort_upload(uid)
        for missing in (uid, "no-such-upload"):
            assert space.get_upload(missing) is None
            with pytest.raises(NoSuchUpload):
                space.put_part(missing, 1, io.BytesIO(b"x"), Expected())
            with pytest.raises(NoSuchUpload):
                space.list_parts(missing)
            with pytest.raises(NoSuchUpload):
                space.complete_upload(missing, [(1, md5_etag(b"part"))])
            with pytest.raises(NoSuchUpload):
                space.abort_upload(missing)
        assert space.list_uploads(BUCKET) == []
        assert space.head_object(BUCKET, "mp") is None
        with pytest.raises(NoSuchBucketSpace):
            space.create_upload("no-such-space", "mp", META)

    def test_part_checksums_and_refused_parts(self, space: ObjectStore) -> None:
        upload = space.create_upload(BUCKET, "mp", META, checksum_algorithm="CRC32C")
        assert upload.checksum_algorithm == "CRC32C"
        assert space.get_upload(upload.upload_id) == upload
        uid = upload.upload_id
        data = data_of(MIN_PART_SIZE, seed=17)
        part = space.put_part(uid, 1, io.BytesIO(data), Expected(size=len(data)), ("SHA1",))
        ref = reference_checksums(data)
        assert part.checksums == {"SHA1": ref["SHA1"], "CRC32C": ref["CRC32C"]}
        other = data_of(2000, seed=18)
        for large in (False, True):
            body = data_of(self.large_body_size, seed=19) if large else other
            bad = Expected(len(body), None, {"CRC32C": wrong(reference_checksums(body)["CRC32C"])})
            for number in (1, 2):
                with pytest.raises(ChecksumMismatch):
                    space.put_part(uid, number, io.BytesIO(body), bad)
                with pytest.raises(IncompleteBody):
                    space.put_part(uid, number, io.BytesIO(body[:-1]), Expected(size=len(body)))
        listed = space.list_parts(uid)
        assert [(p.part_number, p.etag, p.checksums) for p in listed] == [(1, part.etag, part.checksums)]
        space.abort_upload(uid)

    def test_large_parts(self, space: ObjectStore) -> None:
        data = data_of(self.large_body_size, seed=20)
        uid = space.create_upload(BUCKET, "mp", META).upload_id
        part = space.put_part(uid, 1, io.BytesIO(data), Expected(len(data), md5_base64(data)), ("SHA256",))
        assert part.etag == md5_etag(data) and part.size == len(data)
        assert part.checksums == {"SHA256": reference_checksums(data)["SHA256"]}
        [listed] = space.list_parts(uid)
        assert (listed.etag, listed.size, listed.checksums) == (part.etag, part.size, part.checksums)
        space.complete_upload(uid, [(1, part.etag)])
        assert self.read(space, "mp") == data

    def test_copy_part(self, space: ObjectStore) -> None:
        data = data_of(MIN_PART_SIZE + 1000, seed=21)
        self.put(space, "src", data)
        uid = space.create_upload(BUCKET, "mp", META).upload_id
        p1 = space.copy_part(uid, 1, BUCKET, "src", 0, MIN_PART_SIZE - 1)
        p2 = space.copy_part(uid, 2, BUCKET, "src", MIN_PART_SIZE, None)
        assert (p1.size, p1.etag) == (MIN_PART_SIZE, md5_etag(data[:MIN_PART_SIZE]))
        assert (p2.size, p2.etag) == (1000, md5_etag(data[MIN_PART_SIZE:]))
        with pytest.raises(NoSuchObject):
            space.copy_part(uid, 3, BUCKET, "absent", 0, None)
        space.complete_upload(uid, [(1, p1.etag), (2, p2.etag)])
        assert self.read(space, "mp") == data

    def test_copy_of_a_multipart_object(self, space: ObjectStore) -> None:
        part1, part2 = data_of(MIN_PART_SIZE, seed=22), b"tail"
        uid = space.create_upload(BUCKET, "mp", META).upload_id
        p1 = space.put_part(uid, 1, io.BytesIO(part1), Expected())
        p2 = space.put_part(uid, 2, io.BytesIO(part2), Expected())
        source = space.complete_upload(uid, [(1, p1.etag), (2, p2.etag)])
        copy = space.copy_object(BUCKET, "mp", BUCKET, "copy", ObjectMeta())
        assert copy.etag in (source.etag, md5_etag(part1 + part2))
        assert copy.parts_count == (2 if copy.etag == source.etag else None)
        head = space.head_object(BUCKET, "copy")
        assert head is not None and (head.etag, head.parts_count) == (copy.etag, copy.parts_count)
        assert self.read(space, "copy") == part1 + part2

    def test_list_uploads_by_key_then_initiation(self, space: ObjectStore) -> None:
        space.create_bucket_space(OTHER)
        b = space.create_upload(BUCKET, "b", META)
        a1 = space.create_upload(BUCKET, "a", META)
        time.sleep(0.01)
        a2 = space.create_upload(BUCKET, "a", ObjectMeta())
        space.create_upload(OTHER, "a", META)
        listed = space.list_uploads(BUCKET)
        assert [u.upload_id for u in listed] == [a1.upload_id, a2.upload_id, b.upload_id]
        assert listed[1].meta == ObjectMeta()

    # bucket spaces

    def test_bucket_space_lifecycle(self, store: ObjectStore) -> None:
        store.create_bucket_space(BUCKET)
        store.create_bucket_space(BUCKET)
        assert store.bucket_is_empty(BUCKET)
        self.put(store, "k", b"x")
        assert not store.bucket_is_empty(BUCKET)
        store.delete_object(BUCKET, "k")
        assert store.bucket_is_empty(BUCKET)
        uid = store.create_upload(BUCKET, "pending", META).upload_id
        store.put_part(uid, 1, io.BytesIO(b"part"), Expected())
        assert store.bucket_is_empty(BUCKET)
        store.delete_bucket_space(BUCKET)
        assert store.get_upload(uid) is None
        with pytest.raises(NoSuchBucketSpace):
            store.list_objects(BUCKET)
        with pytest.raises(NoSuchBucketSpace):
            self.put(store, "k", b"x")
        with pytest.raises(NoSuchBucketSpace):
            store.create_upload(BUCKET, "k", META)
        store.create_bucket_space(BUCKET)
        assert store.bucket_is_empty(BUCKET) and store.list_uploads(BUCKET) == []

    def test_spaces_are_separate(self, space: ObjectStore) -> None:
        space.create_bucket_space(OTHER)
        self.put(space, "k", b"one")
        self.put(space, "k", b"two", bucket=OTHER)
        assert self.read(space, "k") == b"one"
        assert self.read(space, "k", bucket=OTHER) == b"two"
        space.delete_object(OTHER, "k")
        assert self.keys(space) == ["k"] and self.keys(space, OTHER) == []
        assert space.bucket_is_empty(OTHER) and not space.bucket_is_empty(BUCKET)

    # concurrency

    def test_concurrent_writers_leave_one_whole_version(self, space: ObjectStore) -> None:
        bodies = [data_of(256 * 1024, seed=100 + i) for i in range(8)]
        by_etag = {md5_etag(b): b for b in bodies}
        for _ in range(2):
            results = race(8, lambda i: self.put(space, "k", bodies[i]))
            assert not [r for r in results if isinstance(r, BaseException)], results
            head = space.head_object(BUCKET, "k")
            assert head is not None and head.etag in by_etag
            assert self.read(space, "k") == by_etag[head.etag]
        assert self.keys(space) == ["k"]

    def test_readers_racing_an_overwriter_see_whole_versions(self, space: ObjectStore) -> None:
        bodies = [data_of(64 * 1024, seed=200 + i) for i in range(4)]
        self.put(space, "k", bodies[0])
        done = threading.Event()

        def write() -> int:
            for round_ in range(40):
                self.put(space, "k", bodies[round_ % len(bodies)])
            done.set()
            return 0

        def read() -> int:
            reads = 0
            while not done.is_set() or reads == 0:
                info, chunks = space.open_object(BUCKET, "k")
                data = b"".join(chunks)
                assert md5_etag(data) == info.etag and len(data) == info.size
                reads += 1
            return reads

        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(write), pool.submit(read), pool.submit(read)]
            results = [f.result() for f in futures]
        assert all(r >= 0 for r in results)

    # memory

    @pytest.mark.parametrize("declared", [True, False], ids=["declared-size", "unknown-size"])
    def test_64_mib_round_trip_streams_in_bounded_memory(self, space: ObjectStore, declared: bool) -> None:
        size = 64 * MiB
        reference = hashlib.md5(usedforsecurity=False)
        source = LazyBody(size)
        while chunk := source.read(MiB):
            reference.update(chunk)
        expected = Expected(size=size) if declared else Expected()
        read_back = hashlib.md5(usedforsecurity=False)
        length = 0
        tracemalloc.start()
        try:
            info = space.put_object(BUCKET, "big", LazyBody(size), ObjectMeta(), expected, ("CRC32",))
            _, chunks = space.open_object(BUCKET, "big")
            for chunk in chunks:
                read_back.update(chunk)
                length += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert info.etag == f'"{reference.hexdigest()}"' and info.size == size
        assert length == size and read_back.hexdigest() == reference.hexdigest()
        assert peak < self.memory_limit, f"peak traced memory {peak / MiB:.1f} MiB"
        space.delete_object(BUCKET, "big")

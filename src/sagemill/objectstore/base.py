"""The ObjectStore port: durable, streamed objects with their metadata, addressed by (bucket, key).

Contract, for every adapter:
- Buckets here are storage namespaces only; who owns a bucket is the caller's business (the S3
  service keeps bucket ownership in the Store). A bucket space must exist (`create_bucket_space`)
  before objects or uploads go in it, else NoSuchBucketSpace; `delete_bucket_space` expects an
  empty bucket (the caller checks `bucket_is_empty`).
- Keys are non-empty strings stored exactly (no normalisation of `/`, `..`, `%2F` or Unicode) up to
  S3's 1024 UTF-8 bytes; an adapter that cannot hold that many (an external store whose key prefix
  eats into the limit) raises KeyTooLong and stores nothing.
- `put_object` streams the body (never holding it whole in memory) and makes it visible atomically:
  a reader sees the old object or the new one, never a torn one; a crash leaves no partial object.
  It reads at most `Expected.size` bytes; a body that ends sooner raises IncompleteBody, and one
  that does not match an expected digest raises ChecksumMismatch. Either way nothing is stored and
  an object already under the key stays as it was.
- ETags are quoted: the MD5 of the bytes for `put_object`, S3's MD5-of-part-MD5s with `-N` for a
  completed multipart upload; a copy keeps the source's ETag or takes the MD5 of its bytes.
- `open_object` streams a byte range, clipped to the object; a reader that has opened an object
  keeps reading that version even if it is overwritten or deleted meanwhile.
- `list_objects` returns keys in UTF-8 byte order. Its ObjectInfos are sure to carry key, size,
  etag, last_modified and parts_count; `meta` and `checksums` may be defaults where the backend
  does not list them (S3's ListObjectsV2 does not): ask `head_object` for those.
- Multipart parts are invisible until `complete_upload`, which is atomic like `put_object`. It
  needs at least one part, part numbers in ascending order (InvalidPartOrder) and every part but
  the last at least MIN_PART_SIZE bytes (EntityTooSmall), as S3 does.
- Every method is thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part, the last one excepted."""

MAX_KEY_BYTES = 1024
"""S3's longest key, in UTF-8 bytes."""


class ObjectStoreError(Exception):
    """Base of the object store's own failures."""


class NoSuchBucketSpace(ObjectStoreError):
    pass


class NoSuchObject(ObjectStoreError):
    pass


class NoSuchUpload(ObjectStoreError):
    pass


class ChecksumMismatch(ObjectStoreError):
    """The body did not match an expected digest or length; `algorithm` names which."""

    def __init__(self, algorithm: str) -> None:
        super().__init__(algorithm)
        self.algorithm = algorithm


class IncompleteBody(ObjectStoreError):
    """The body ended before its declared length (a client that went away or lied)."""


class InvalidPart(ObjectStoreError):
    """A part named in CompleteMultipartUpload is missing or its ETag differs."""


class InvalidPartOrder(InvalidPart):
    """The parts named in CompleteMultipartUpload are not in ascending order of part number."""


class EntityTooSmall(InvalidPart):
    """A part other than the last is smaller than MIN_PART_SIZE.

    A kind of InvalidPart so that a caller that only knows InvalidPart still refuses the completion.
    """


class KeyTooLong(ObjectStoreError):
    """The key does not fit the adapter's key space (see the module docstring)."""


class Readable(Protocol):
    """What a body is: anything with read(n) returning b'' at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What the writer says about an object."""

    content_type: str = "binary/octet-stream"
    user_metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    """Stored response headers: Content-Encoding, Cache-Control, SSE, …"""


@dataclass(frozen=True, slots=True)
class Expected:
    """Digests and size the client declared; any that is set is verified before the object is visible."""

    size: int | None = None
    md5_base64: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    """Algorithm (CRC32, CRC32C, SHA1, SHA256) → base64 digest."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str
    """Quoted, as S3 returns it."""
    last_modified: float
    meta: ObjectMeta
    checksums: dict[str, str] = field(default_factory=dict)
    parts_count: int | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    part_number: int
    size: int
    etag: str
    last_modified: float
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadInfo:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: ObjectMeta
    checksum_algorithm: str | None = None


class ObjectStore(Protocol):
    """Durable objects; see the module docstring for the contract."""

    def create_bucket_space(self, bucket: str) -> None: ...

    def delete_bucket_space(self, bucket: str) -> None:
        """Remove an empty bucket's space (uploads in progress are aborted)."""
        ...

    def bucket_is_empty(self, bucket: str) -> bool: ...

    def put_object(
        self,
        bucket: str,
        key: str,
        body: Readable,
        meta: ObjectMeta,
        expected: Expected,
        checksum_algorithms: tuple[str, ...] = (),
    ) -> ObjectInfo: ...

    def head_object(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def open_object(
        self, bucket: str, key: str, start: int = 0, end: int | None = None
    ) -> tuple[ObjectInfo, Iterator[bytes]]:
        """The object and its bytes [start, end] inclusive (end None: to the last byte)."""
        ...

    def delete_object(self, bucket: str, key: str) -> bool: ...

    def copy_object(
        self, source_bucket: str, source_key: str, bucket: str, key: str, meta: ObjectMeta
    ) -> ObjectInfo: ...

    def list_objects(
        self, bucket: str, prefix: str = "", start_after: str = "", limit: int = 1000
    ) -> tuple[list[ObjectInfo], bool]:
        """Objects whose key starts with `prefix` and sorts after `start_after`; and whether more follow."""
        ...

    def create_upload(
        self, bucket: str, key: str, meta: ObjectMeta, checksum_algorithm: str | None = None
    ) -> UploadInfo: ...

    def get_upload(self, upload_id: str) -> UploadInfo | None: ...

    def put_part(
        self,
        upload_id: str,
        part_number: int,
        body: Readable,
        expected: Expected,
        checksum_algorithms: tuple[str, ...] = (),
    ) -> PartInfo: ...

    def copy_part(
        self,
        upload_id: str,
        part_number: int,
        source_bucket: str,
        source_key: str,
        start: int,
        end: int | None,
    ) -> PartInfo: ...

    def list_parts(self, upload_id: str) -> list[PartInfo]: ...

    def list_uploads(self, bucket: str) -> list[UploadInfo]: ...

    def complete_upload(self, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        """Join the named (part number, ETag) parts in order into the object; raises InvalidPart."""
        ...

    def abort_upload(self, upload_id: str) -> None: ...


def choose_parts(stored: dict[int, PartInfo], requested: list[tuple[int, str]]) -> list[PartInfo]:
    """The stored parts that CompleteMultipartUpload names, checked as S3 checks them.

    Raises InvalidPart (no parts, a part missing or with another ETag), InvalidPartOrder or
    EntityTooSmall; every adapter applies this one rule so they all refuse the same completions.
    """
    if not requested:
        raise InvalidPart("no parts named")
    chosen: list[PartInfo] = []
    for number, etag in requested:
        part = stored.get(number)
        if part is None or part.etag.strip('"') != etag.strip('"'):
            raise InvalidPart(str(number))
        if chosen and number <= chosen[-1].part_number:
            raise InvalidPartOrder(str(number))
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise EntityTooSmall(str(part.part_number))
    return chosen

"""Digests S3 computes while a body streams by: MD5 for ETags, and the flexible checksums."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import google_crc32c

from sagemill.objectstore.base import ChecksumMismatch, Expected

ALGORITHMS = ("CRC32", "CRC32C", "SHA1", "SHA256")


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


class _Crc32c:
    def __init__(self) -> None:
        self.value = google_crc32c.Checksum()  # type: ignore[no-untyped-call]

    def update(self, data: bytes) -> None:
        self.value.update(data)  # type: ignore[no-untyped-call]

    def digest(self) -> bytes:
        return bytes(self.value.digest())  # type: ignore[no-untyped-call]


def _new(algorithm: str) -> Any:
    if algorithm == "CRC32":
        return _Crc32()
    if algorithm == "CRC32C":
        return _Crc32c()
    if algorithm == "SHA1":
        return hashlib.sha1(usedforsecurity=False)
    if algorithm == "SHA256":
        return hashlib.sha256()
    raise ValueError(f"unknown checksum algorithm {algorithm}")


class Digests:
    """MD5 plus any flexible checksums, fed chunk by chunk."""

    def __init__(self, algorithms: tuple[str, ...] = ()) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self._others = {name: _new(name) for name in dict.fromkeys(algorithms)}

    def update(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        self.size += len(chunk)
        for hasher in self._others.values():
            hasher.update(chunk)

    def md5_base64(self) -> str:
        return base64.b64encode(self.md5.digest()).decode("ascii")

    def etag(self) -> str:
        return f'"{self.md5.hexdigest()}"'

    def checksums(self) -> dict[str, str]:
        return {name: base64.b64encode(h.digest()).decode("ascii") for name, h in self._others.items()}


def multipart_etag(part_etags: list[str]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, a dash, the part count."""
    joined = b"".join(bytes.fromhex(e.strip('"')) for e in part_etags)
    return f'"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_etags)}"'


def verify(digests: Digests, expected: Expected) -> None:
    """Raise ChecksumMismatch naming the first declared digest the body did not match."""
    if expected.md5_base64 is not None and expected.md5_base64 != digests.md5_base64():
        raise ChecksumMismatch("MD5")
    actual = digests.checksums()
    for algorithm, value in expected.checksums.items():
        if actual.get(algorithm) != value:
            raise ChecksumMismatch(algorithm)

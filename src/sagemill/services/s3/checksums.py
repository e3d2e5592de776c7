"""What an upload declares about its bytes (Content-MD5, x-amz-checksum-*, trailers) as the port's Expected.

Checksums sent as `aws-chunked` trailers are only known once the body has been read to its end, so
their algorithms are announced up front (`x-amz-trailer`) and their values are read lazily, when the
object store verifies them after the last byte.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from sagemill.objectstore.base import Expected, ObjectInfo, PartInfo, Readable
from sagemill.services.s3.errors import incomplete_body, invalid_request, s3_error

# Algorithm → (output member, digest length in bytes), for the algorithms Sagemill computes.
ALGORITHMS: dict[str, tuple[str, int]] = {
    "CRC32": ("ChecksumCRC32", 4),
    "CRC32C": ("ChecksumCRC32C", 4),
    "SHA1": ("ChecksumSHA1", 20),
    "SHA256": ("ChecksumSHA256", 32),
}
UNSUPPORTED = ("CRC64NVME", "SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128")


@runtime_checkable
class TrailingBody(Protocol):
    """An `aws-chunked` body (s3_wire.AwsChunkedReader): trailers filled once its last chunk is read."""

    trailers: dict[str, str]
    announced_trailers: tuple[str, ...]

    def read(self, size: int = -1, /) -> bytes: ...


class TrailerChecksums(dict[str, str]):
    """Algorithm → expected base64 digest, where some digests arrive as trailers after the body.

    The keys are known before the body is read (the object store learns from them what to compute);
    a trailer's value is fetched when it is looked up, which the store does after the last byte. An
    adapter that stops reading at exactly the declared size has not yet seen the closing chunk, so
    a lookup first reads the body to its end (a body longer than declared is refused).
    """

    def __init__(self, known: Mapping[str, str], body: TrailingBody, pending: Mapping[str, str]) -> None:
        super().__init__(known)
        self._body = body
        self._pending = dict(pending)  # algorithm → trailer header name
        for algorithm in self._pending:
            super().__setitem__(algorithm, "")

    def _trailer(self, algorithm: str) -> str:
        if self._body.read(1):
            raise incomplete_body()
        return self._body.trailers.get(self._pending[algorithm], "")

    def __getitem__(self, algorithm: str) -> str:
        if algorithm in self._pending:
            return self._trailer(algorithm)
        return super().__getitem__(algorithm)

    def get(self, algorithm: str, default: Any = None) -> Any:
        # Not dict.get: that would read the placeholder, not the trailer.
        if algorithm not in self:
            return default
        return self[algorithm]

    def __iter__(self) -> Iterator[str]:
        # Overridden so dict(...) and {**...} copy through __getitem__ rather than the raw slots.
        return iter(list(super().keys()))

    def items(self) -> Any:
        return {algorithm: self[algorithm] for algorithm in self}.items()

    def values(self) -> Any:
        return {algorithm: self[algorithm] for algorithm in self}.values()


def unsupported_algorithm(algorithm: str) -> Exception:
    return invalid_request(
        f"Sagemill does not support the {algorithm} checksum algorithm; use CRC32, CRC32C, SHA1 or SHA256."
    )


def _check_value(algorithm: str, value: str) -> None:
    length = ALGORITHMS[algorithm][1]
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != length:
        raise invalid_request(f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.")


def _check_md5(value: str) -> None:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 16:
        raise s3_error("InvalidDigest", "The Content-MD5 you specified is not valid.")


def requested_algorithm(params: Mapping[str, Any]) -> str | None:
    """`x-amz-sdk-checksum-algorithm` (or `x-amz-checksum-algorithm`), refused when not computable."""
    algorithm = params.get("ChecksumAlgorithm")
    if algorithm is None:
        return None
    algorithm = str(algorithm).upper()
    if algorithm not in ALGORITHMS:
        raise unsupported_algorithm(algorithm)
    return algorithm


def expected_for_upload(
    params: Mapping[str, Any], body: Readable, size: int | None
) -> tuple[Expected, tuple[str, ...]]:
    """The Expected digests of an upload and the algorithms to compute and store."""
    md5 = params.get("ContentMD5")
    if md5 is not None:
        _check_md5(md5)
    for algorithm in UNSUPPORTED:
        if params.get(f"Checksum{algorithm}") is not None:
            raise unsupported_algorithm(algorithm)
    known: dict[str, str] = {}
    for algorithm, (member, _) in ALGORITHMS.items():
        value = params.get(member)
        if value is not None:
            _check_value(algorithm, value)
            known[algorithm] = value
    requested = requested_algorithm(params)
    compute = tuple(dict.fromkeys([*([requested] if requested else []), *known]))
    checksums: dict[str, str] = known
    if isinstance(body, TrailingBody):
        pending = {
            algorithm: f"x-amz-checksum-{algorithm.lower()}"
            for algorithm in ALGORITHMS
            if f"x-amz-checksum-{algorithm.lower()}" in body.announced_trailers and algorithm not in known
        }
        if pending:
            checksums = TrailerChecksums(known, body, pending)
            compute = tuple(dict.fromkeys([*compute, *pending]))
    return Expected(size=size, md5_base64=md5, checksums=checksums), compute


def checksum_members(checksums: Mapping[str, str]) -> dict[str, str]:
    """Stored digests as output members (ChecksumCRC32, …)."""
    return {ALGORITHMS[a][0]: v for a, v in checksums.items() if a in ALGORITHMS and v}


def object_checksums(info: ObjectInfo, mode: str | None) -> dict[str, Any]:
    """Checksum members for GET/HEAD: only with `x-amz-checksum-mode: ENABLED`, as S3 answers."""
    if (mode or "").upper() != "ENABLED" or not info.checksums:
        return {}
    members: dict[str, Any] = checksum_members(info.checksums)
    if members:
        members["ChecksumType"] = "FULL_OBJECT"
    return members


def part_checksums(part: PartInfo) -> dict[str, str]:
    return checksum_members(part.checksums)

"""S3's departures from plain REST-XML: root element names, `aws-chunked` bodies, GetBucketLocation, ids.

botocore's S3 model names no root element for most outputs (clients ignore it), but other SDKs and tools
expect S3's own names, so the common ones are listed here. `aws-chunked` is the framing botocore uses for
uploads over HTTPS (`Content-Encoding: aws-chunked`, checksum trailers); it is decoded before the payload
reaches a handler, and trailer checksums become the matching header members.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from sagemill.aws.errors import SerializationError, ServiceError
from sagemill.aws.protocol.rest import drop_content_coding
from sagemill.aws.request import BodyReader

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

ROOT_ELEMENTS = {
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketEncryption": "ServerSideEncryptionConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
}


def is_s3(service: ServiceModel) -> bool:
    return bool(service.metadata.get("serviceId") == "S3")


def root_element(operation: OperationModel, shape: Shape) -> str:
    """The element that wraps an output's body members."""
    name = shape.serialization.get("name")
    if name:
        return str(name)
    return ROOT_ELEMENTS.get(operation.name, f"{operation.name}Result")


def success_status(operation: OperationModel, result: Mapping[str, Any], status: int) -> int:
    """206 for a ranged read: the model has no member for it; S3 implies it by Content-Range."""
    if operation.name in ("GetObject", "HeadObject") and result.get("ContentRange"):
        return 206
    return status


def request_id_headers(request_id: str) -> dict[str, str]:
    host_id = base64.b64encode(hashlib.sha256(request_id.encode()).digest()).decode("ascii")
    return {"x-amz-request-id": request_id, "x-amz-id-2": host_id}


def is_aws_chunked(headers: dict[str, str]) -> bool:
    encodings = [part.strip().lower() for part in headers.get("content-encoding", "").split(",")]
    return "aws-chunked" in encodings


def decode_chunked_request(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Decode an `aws-chunked` body and check it against `x-amz-decoded-content-length`."""
    data, trailers = decode_aws_chunked(body)
    declared = headers.get("x-amz-decoded-content-length", "").strip()
    if declared.isdigit() and int(declared) != len(data):
        raise ServiceError(
            "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length.", 400
        )
    return data, trailers


def decode_aws_chunked(body: bytes) -> tuple[bytes, dict[str, str]]:
    """The payload and trailer headers (lower-case names) of an `aws-chunked` body (signed or not)."""
    data = bytearray()
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise SerializationError("Incomplete aws-chunked body: a chunk header is not terminated.")
        header = body[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(header, 16)
        except ValueError as exc:
            raise SerializationError("Invalid chunk size in an aws-chunked body.") from exc
        position = line_end + 2
        if size == 0:
            break
        chunk = body[position : position + size]
        if len(chunk) != size or body[position + size : position + size + 2] != b"\r\n":
            raise SerializationError("Incomplete aws-chunked body: a chunk is shorter than declared.")
        data += chunk
        position += size + 2
    trailers: dict[str, str] = {}
    for line in body[position:].split(b"\r\n"):
        name, colon, value = line.decode("latin-1").partition(":")
        if colon and not name.lower().startswith("x-amz-trailer-signature"):
            trailers[name.strip().lower()] = value.strip()
    return bytes(data), trailers


def apply_trailers(params: dict[str, Any], shape: Shape, trailers: dict[str, str]) -> None:
    """Trailer headers fill the header-bound members they name; `aws-chunked` leaves ContentEncoding."""
    for name, member in shape.members.items():
        if member.serialization.get("location") != "header":
            continue
        header = str(member.serialization.get("name", name)).lower()
        if header in trailers and name not in params:
            params[name] = trailers[header]
    drop_content_coding(params, shape, "aws-chunked")


class AwsChunkedReader:
    """Decodes an `aws-chunked` body as it is read; `trailers` are filled once the last chunk is read.

    Chunk signatures are not verified here (see security/strict.py); the decoded length is checked
    against `x-amz-decoded-content-length` at the end.
    """

    def __init__(
        self, raw: BodyReader, decoded_length: int | None, announced_trailers: tuple[str, ...] = ()
    ) -> None:
        self._raw = raw
        self._buffer = b""
        self._left_in_chunk = 0
        self._done = False
        self._decoded = 0
        self._expected = decoded_length
        self.decoded_length = decoded_length
        """`x-amz-decoded-content-length`: the payload's size once the framing is removed."""
        self.announced_trailers = announced_trailers
        """Lower-case trailer names the client announced in `x-amz-trailer` (known before the body)."""
        self.trailers: dict[str, str] = {}

    def _fill(self, need: int) -> bool:
        while len(self._buffer) < need:
            more = self._raw.read(64 * 1024)
            if not more:
                return False
            self._buffer += more
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            more = self._raw.read(64 * 1024)
            if not more:
                raise IncompleteBodyError()
            self._buffer += more
            if len(self._buffer) > 64 * 1024:
                raise SerializationError("Invalid aws-chunked body: a chunk header is too long.")
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def read(self, size: int = -1, /) -> bytes:
        out = bytearray()
        while not self._done and (size < 0 or len(out) < size):
            if self._left_in_chunk == 0:
                header = self._line().split(b";", 1)[0].strip()
                try:
                    self._left_in_chunk = int(header, 16)
                except ValueError as exc:
                    raise SerializationError("Invalid chunk size in an aws-chunked body.") from exc
                if self._left_in_chunk == 0:
                    self._finish()
                    break
            want = self._left_in_chunk if size < 0 else min(self._left_in_chunk, size - len(out))
            if not self._fill(1):
                raise IncompleteBodyError()
            piece = self._buffer[:want]
            self._buffer = self._buffer[len(piece) :]
            out += piece
            self._left_in_chunk -= len(piece)
            self._decoded += len(piece)
            if self._left_in_chunk == 0:
                if not self._fill(2) or self._buffer[:2] != b"\r\n":
                    raise IncompleteBodyError()
                self._buffer = self._buffer[2:]
        return bytes(out)

    def _finish(self) -> None:
        while True:
            line = self._line()
            if not line:
                break
            name, colon, value = line.decode("latin-1").partition(":")
            if colon and not name.lower().startswith("x-amz-trailer-signature"):
                self.trailers[name.strip().lower()] = value.strip()
        self._done = True
        if self._expected is not None and self._decoded != self._expected:
            raise IncompleteBodyError()


class IncompleteBodyError(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length.", 400
        )

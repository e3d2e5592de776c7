"""The HTTP request and response as the wire layer sees them, independent of the ASGI server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl


class BodyReader(Protocol):
    """A request body read as it arrives: read(n) returns b'' at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class AwsRequest:
    """One HTTP request. Header names are lower case; repeated headers are joined with ','."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # Filled by the router: the service and the principal once known.
    context: dict[str, Any] = field(default_factory=dict)
    stream: BodyReader | None = None
    """Set instead of `body` for uploads the gateway streams (S3 object bodies)."""

    def with_body(self, body: bytes) -> AwsRequest:
        return replace(self, body=body, stream=None)

    def query_params(self) -> list[tuple[str, str]]:
        """The query string decoded into (name, value) pairs, blanks kept."""
        return parse_qsl(self.query, keep_blank_values=True)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(slots=True)
class AwsResponse:
    """One HTTP response; header names keep the case AWS uses."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    """Set instead of `body` for downloads sent as they are read (S3 GetObject)."""

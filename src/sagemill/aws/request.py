"""The HTTP request and response as the wire layer sees them, independent of the ASGI server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


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

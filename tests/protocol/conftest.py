"""Fixtures for the protocol tests: botocore's test vectors (fetched once from its sdist) and a boto3 bridge.

The vectors live in botocore's *source* distribution only. They are downloaded with pip into
`<repo>/.cache/botocore-sdist` for the installed botocore version and reused from there.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from sagemill.aws.errors import ServiceError
from sagemill.aws.protocol import protocol_for
from sagemill.aws.request import AwsRequest, AwsResponse
from sagemill.aws.specs import resolved_protocol, service_model
from sagemill.testing.protocol_vectors import REQUEST_ID, VectorCase, fetch_vectors, load_cases

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".cache" / "botocore-sdist"


@cache
def vectors_or_reason() -> Path | str:
    """The vectors folder, or why it could not be had (no network and no cache)."""
    try:
        return fetch_vectors(CACHE_DIR)
    except Exception as exc:  # pragma: no cover - depends on the network
        return f"{type(exc).__name__}: {exc}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vector_case" not in metafunc.fixturenames:
        return
    found = vectors_or_reason()
    if isinstance(found, str):
        # A failure, not a skip: the suite must never pass without running the vectors.
        metafunc.parametrize("vector_case", [found], ids=["vectors-unavailable"])
        return
    # Cases listed in the test module's SKIPS are not generated at all; a separate test checks
    # that each of them still fails, so the list cannot go stale.
    not_applicable = getattr(metafunc.module, "SKIPS", {})
    cases: list[VectorCase] = [case for case in load_cases(found) if case.key not in not_applicable]
    metafunc.parametrize("vector_case", cases, ids=[case.key for case in cases])


@pytest.fixture(scope="session")
def vector_cases() -> list[VectorCase]:
    found = vectors_or_reason()
    if isinstance(found, str):
        pytest.fail(f"botocore vectors unavailable: {found}")
    return load_cases(found)


# -- a boto3 client answered in-process by Sagemill's protocol layer ---------------------------------------


class _RawBody:
    """Just enough of urllib3's response for botocore: `stream()` when buffered, `read()` when streaming."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def stream(self, amt: int = 1024, decode_content: bool = True) -> Iterator[bytes]:
        while chunk := self._buffer.read(amt):
            yield chunk

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        return self._buffer.read() if amt is None else self._buffer.read(amt)

    def close(self) -> None:
        self._buffer.close()


Handler = Callable[[str, dict[str, Any]], Mapping[str, Any]]


@dataclass
class Exchange:
    """What the server side saw and answered for one call."""

    request: AwsRequest
    operation: str
    params: dict[str, Any]
    response: AwsResponse


@dataclass
class Bridge:
    """A real boto3 client whose HTTP requests are parsed, handled and answered by our protocol code.

    The handler gets (operation name, parsed params) and returns the result, or raises ServiceError.
    Nothing touches the network: botocore's `before-send` hook returns our serialized response.
    """

    service_name: str
    handler: Handler
    endpoint_url: str = "http://localhost:4566"
    config: Config | None = None
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        session = boto3.session.Session(
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
        )
        config = Config(retries={"max_attempts": 1, "mode": "standard"})
        if self.config is not None:
            config = config.merge(self.config)
        self.client = session.client(self.service_name, endpoint_url=self.endpoint_url, config=config)
        self.model = service_model(self.service_name)  # the pristine model: clients rewrite S3's URIs
        self.protocol = protocol_for(resolved_protocol(self.model))
        self.client.meta.events.register("before-send", self._send)

    @property
    def last(self) -> Exchange:
        return self.exchanges[-1]

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {
            k.lower(): v.decode("latin-1") if isinstance(v, bytes) else str(v)
            for k, v in request.headers.items()
        }
        aws = AwsRequest(request.method, url.path or "/", url.query, headers, bytes(body or b""))
        operation = None
        params: dict[str, Any] = {}
        try:
            operation = self.protocol.match_operation(aws, self.model)
            params = self.protocol.parse(aws, operation)
            result = self.handler(operation.name, params)
            response = self.protocol.serialize(result, operation, REQUEST_ID)
        except ServiceError as error:
            response = self.protocol.serialize_error(error, self.model, operation, REQUEST_ID)
        name = operation.name if operation is not None else "?"
        self.exchanges.append(Exchange(aws, name, params, response))
        raw = _RawBody(response.body)
        return AWSResponse(request.url, response.status, response.headers, raw)


@pytest.fixture
def bridge() -> Callable[..., Bridge]:
    """Factory: bridge("s3", handler, endpoint_url=..., config=...)."""
    return Bridge

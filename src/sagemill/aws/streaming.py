"""Bodies that stream: request bodies read from ASGI as a handler asks, responses sent as produced."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import anyio.from_thread
import anyio.to_thread

from sagemill.aws.errors import ServiceError
from sagemill.aws.request import AwsResponse, BodyReader

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HEX_SHA256_LENGTH = 64


class ClientDisconnected(ServiceError):
    """The client went away before the whole body arrived."""

    def __init__(self) -> None:
        super().__init__(
            "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length.", 400
        )


class ReceiveReader:
    """read(n) over ASGI `receive`, called from a worker thread started by anyio.to_thread.

    Holds at most one ASGI message beyond what the caller asked for, so memory stays bounded
    whatever the body's size.
    """

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._buffer = b""
        self._ended = False

    async def _next_message(self) -> Message:
        return await self._receive()

    def read(self, size: int = -1, /) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            message: Message = anyio.from_thread.run(self._next_message)
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            self._buffer += message.get("body", b"")
            self._ended = not message.get("more_body", False)
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


class Sha256VerifyingReader:
    """Passes a body through and fails at its end if it does not hash to the signed SHA-256."""

    def __init__(self, inner: BodyReader, expected_hex: str) -> None:
        self._inner = inner
        self._expected = expected_hex.lower()
        self._hash = hashlib.sha256()
        self._checked = False

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._inner.read(size)
        self._hash.update(chunk)
        if (not chunk or size < 0) and not self._checked:
            self._checked = True
            if not hmac.compare_digest(self._hash.hexdigest(), self._expected):
                raise ServiceError(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    400,
                )
        return chunk


def verifying(stream: BodyReader, claimed: str) -> BodyReader:
    """Wrap a streamed body so a hex `x-amz-content-sha256` is checked as it is read."""
    if len(claimed) == _HEX_SHA256_LENGTH and all(c in "0123456789abcdefABCDEF" for c in claimed):
        return Sha256VerifyingReader(stream, claimed)
    return stream


def read_bounded(stream: BodyReader, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit`."""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


async def send_response(send: Send, response: AwsResponse, method: str) -> None:
    headers = response.headers
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if not any(k.lower() == "content-length" for k in headers):
        raw_headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
    stream = response.stream
    if method == "HEAD" or stream is None:
        if stream is not None:
            _close(stream)
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else response.body})
        return
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, stream, None)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        _close(stream)


def _close(stream: Iterator[bytes]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()

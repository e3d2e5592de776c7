"""Bodies that stream: request bodies read from ASGI as a handler asks, responses sent as produced."""

from __future__ import annotations

import hashlib
import hmac
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any

import anyio.abc
import anyio.from_thread
import anyio.to_thread

from sagemill.aws.errors import ServiceError
from sagemill.aws.request import AwsResponse, BodyReader

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HEX_SHA256_LENGTH = 64
DEFAULT_PREFETCH = 8 * 1024 * 1024
"""How far ahead of the reader an upload is received."""


class BodyTooLarge(Exception):
    """A buffered request body (declared or received) is longer than the reader's limit."""


async def read_buffered_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes | None:
    """A whole request body of at most `limit` bytes; None if the client went away.

    Refused early on a declared Content-Length over the limit, else as soon as the received bytes pass it.
    """
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class ClientDisconnected(ServiceError):
    """The client went away before the whole body arrived."""

    def __init__(self) -> None:
        super().__init__(
            "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length.", 400
        )


class ReceiveReader:
    """read(n) over ASGI `receive` for a worker thread, fed by `pump` running on the event loop.

    The pump receives ahead of the reader, up to `prefetch` bytes, so the client keeps sending while
    the worker hashes and writes (the ASGI server stops reading the socket whenever nobody is
    receiving; a reader that only received on demand left the pipe idle half the time). Memory
    stays bounded: at most `prefetch` bytes plus one ASGI message are held.
    """

    def __init__(self, receive: Receive, prefetch: int = DEFAULT_PREFETCH) -> None:
        self._receive = receive
        self._prefetch = prefetch
        self._group: anyio.abc.TaskGroup | None = None
        self._started = False
        self._lock = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._wanted = 0
        """The size of the read in progress: the pump fills past `prefetch` when a read needs more."""
        self._ended = False
        self._disconnected = False
        self._space: anyio.Event | None = None

    def pump_in(self, group: anyio.abc.TaskGroup) -> None:
        """Run the pump in `group` from the first read on (cancel the group once the handler is done).

        Not before: receiving is what answers `Expect: 100-continue`, and a request refused before
        its body is read (NoSuchBucket, AccessDenied) should not make the client send the body.
        """
        self._group = group

    @property
    def complete(self) -> bool:
        """Whether the whole body has been received (or the client went away)."""
        with self._lock:
            return self._ended or self._disconnected

    def _full(self) -> bool:
        return self._buffered >= max(self._prefetch, self._wanted)

    async def pump(self) -> None:
        """Receive the body into the buffer until it ends."""
        while True:
            with self._lock:
                full = self._full()
                if full:
                    self._space = anyio.Event()
                    space = self._space
            if full:
                await space.wait()
                continue
            message = await self._receive()
            with self._lock:
                if message["type"] == "http.disconnect":
                    self._disconnected = True
                else:
                    body = message.get("body", b"")
                    if body:
                        self._chunks.append(body)
                        self._buffered += len(body)
                    self._ended = not message.get("more_body", False)
                self._lock.notify_all()
                if self._disconnected or self._ended:
                    return

    def _wake_pump(self, when: bool) -> None:
        """Set the pump's space event if it waits and `when` holds (call with the lock held; hops after)."""
        space = self._space if when else None
        if space is not None:
            self._space = None
            self._lock.release()
            try:
                anyio.from_thread.run_sync(space.set)
            finally:
                self._lock.acquire()

    def read(self, size: int = -1, /) -> bytes:
        if not self._started:
            self._started = True
            if self._group is None:
                raise RuntimeError("ReceiveReader.pump_in was not called")
            anyio.from_thread.run_sync(self._group.start_soon, self.pump)
        with self._lock:
            # A read larger than the prefetch (or of everything) lets the pump fill up to it.
            self._wanted = sys.maxsize if size < 0 else size
            self._wake_pump(not self._full())
            while not (self._ended or self._disconnected) and (size < 0 or self._buffered < size):
                self._lock.wait()
            if self._disconnected:
                raise ClientDisconnected()
            out = self._take(size)
            self._wanted = 0
            # Wake a waiting pump only once half the buffer is free: one hop per prefetch/2 bytes.
            self._wake_pump(self._buffered <= self._prefetch // 2)
        return out

    def _take(self, size: int) -> bytes:
        if size < 0 or size >= self._buffered:
            out = b"".join(self._chunks)
            self._chunks.clear()
        else:
            parts: list[bytes] = []
            wanted = size
            while wanted > 0:
                chunk = self._chunks.popleft()
                if len(chunk) > wanted:
                    self._chunks.appendleft(chunk[wanted:])
                    chunk = chunk[:wanted]
                parts.append(chunk)
                wanted -= len(chunk)
            out = b"".join(parts)
        self._buffered -= len(out)
        return out


class Sha256VerifyingReader:
    """Passes a body through and fails at its end if it does not hash to the signed SHA-256."""

    def __init__(self, inner: BodyReader, expected_hex: str, length: int | None = None) -> None:
        self._inner = inner
        self._expected = expected_hex.lower()
        self._hash = hashlib.sha256()
        self._checked = False
        self._length = length
        self._seen = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._inner.read(size)
        self._hash.update(chunk)
        self._seen += len(chunk)
        # Checked on the read that completes the declared length too: a consumer that stops at
        # exactly Content-Length bytes (as the object store does) never asks for the empty read.
        complete = self._length is not None and self._seen >= self._length
        if (not chunk or size < 0 or complete) and not self._checked:
            self._checked = True
            if not hmac.compare_digest(self._hash.hexdigest(), self._expected):
                raise ServiceError(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    400,
                )
        return chunk


def verifying(stream: BodyReader, claimed: str, length: int | None = None) -> BodyReader:
    """Wrap a streamed body so a hex `x-amz-content-sha256` is checked as it is read.

    `length` is the declared Content-Length: the hash is checked once that many bytes have passed.
    """
    if len(claimed) == _HEX_SHA256_LENGTH and all(c in "0123456789abcdefABCDEF" for c in claimed):
        return Sha256VerifyingReader(stream, claimed, length)
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

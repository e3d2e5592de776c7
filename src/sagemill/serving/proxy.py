"""A small asyncio HTTP/1.1 client with per-instance keep-alive pools, for forwarding invocations.

Why not httpx (or h11 over streams, this module's first form): the data plane needs one request shape
(POST a buffered body, read a buffered reply) to a few local ports. An `asyncio.Protocol` fed straight
from the event loop, with httptools' C parser (llhttp) reading the reply, does that in a few callbacks:
no stream buffers, no per-read coroutine hops, no Python-level parsing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import httptools

MAX_IDLE_PER_BACKEND = 64
SINGLE_WRITE_BYTES = 64 * 1024
"""A body up to this size is sent joined to the head: one segment, one syscall; a larger one is not copied."""


class UpstreamFailed(Exception):
    """The instance could not be reached or closed the connection before a full answer."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent
        """Whether the request may have reached the model (then it is not safe to retry elsewhere)."""


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection to an instance; one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None
        self.received = False
        """Whether any byte of the current exchange's reply arrived."""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.complete = False
        self.framed = False
        """Whether the reply declares its length (or chunks): else its body ends when the connection does."""

    # exchange

    def send(self, head: bytes, body: bytes) -> asyncio.Future[None]:
        assert self.transport is not None
        self.received = self.complete = self.framed = False
        self.status = 0
        self.headers = {}
        self.chunks = []
        waiter = self.waiter = self.loop.create_future()
        if self.closed or self.transport.is_closing():  # closed by us or the peer, not yet reported
            self._finish(UpstreamFailed("the connection is closed", sent=False))
        elif len(body) <= SINGLE_WRITE_BYTES:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _finish(self, error: BaseException | None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection cannot be trusted any more
            self.close()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close()
            self._finish(UpstreamFailed(f"the instance broke the connection: {exc}", sent=True))

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None:
            return
        if self.status and not self.framed and not self.complete:
            self.complete = True  # a reply delimited by the end of the connection (RFC 9112 §6.3)
            self._finish(None)
            return
        reason = f"the instance broke the connection: {exc}" if exc else "the instance closed the connection"
        self._finish(UpstreamFailed(reason, sent=self.received))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key in ("content-length", "transfer-encoding"):
            self.framed = True
        self.headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # an interim reply (100 Continue): the real one follows
            self.status = 0
            self.headers = {}
            return
        self.complete = True
        if not self.parser.should_keep_alive():
            self.closed = True
            assert self.transport is not None
            self.transport.close()
        self._finish(None)


class ConnectionPool:
    """Idle keep-alive connections per (host, port); one request per connection at a time."""

    def __init__(self, max_idle: int = MAX_IDLE_PER_BACKEND) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self.max_idle = max_idle

    async def post(
        self, host: str, port: int, target: str, headers: list[tuple[str, str]], body: bytes, timeout: float
    ) -> UpstreamResponse:
        """POST and read the whole reply; TimeoutError after `timeout`, UpstreamFailed on a broken one."""
        key = (host, port)
        lines = [f"POST {target} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-length: {len(body)}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers]
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            try:
                return await self._exchange(key, connection, head, body, timeout, fresh=False)
            except UpstreamFailed as exc:
                if exc.sent:
                    raise
                # A keep-alive connection the server had already closed: retry on a fresh one.
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(loop), host, port), timeout
            )
        except OSError as exc:
            raise UpstreamFailed(f"cannot connect: {exc}", sent=False) from exc
        return await self._exchange(key, connection, head, body, timeout, fresh=True)

    async def _exchange(
        self,
        key: tuple[str, int],
        connection: _Connection,
        head: bytes,
        body: bytes,
        timeout: float,
        *,
        fresh: bool,
    ) -> UpstreamResponse:
        waiter = connection.send(head, body)
        timer = connection.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except UpstreamFailed as exc:
            connection.close()
            # On a fresh connection the request may have reached the model; on a reused one, only if it
            # answered.
            exc.sent = exc.sent or fresh
            raise
        except BaseException:  # the deadline, or the caller cancelled: the reply would desynchronise it
            connection.close()
            raise
        finally:
            timer.cancel()
        response = UpstreamResponse(connection.status, connection.headers, b"".join(connection.chunks))
        connection.chunks = []
        if connection.closed:
            return response
        idle = self._idle.setdefault(key, [])
        if len(idle) < self.max_idle:
            idle.append(connection)
        else:
            connection.close()
        return response

    def forget(self, host: str, port: int) -> None:
        """Close the idle connections to an instance that is gone."""
        for connection in self._idle.pop((host, port), []):
            connection.close()

    def close(self) -> None:
        for key in list(self._idle):
            self.forget(*key)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())

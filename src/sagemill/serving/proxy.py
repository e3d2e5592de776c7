"""A small asyncio HTTP/1.1 client with per-instance keep-alive pools (h11), for forwarding invocations.

Why not httpx: the data plane needs one request shape (POST a buffered body, read a buffered reply)
to a few local ports; h11 over `asyncio.open_connection` does that with no extra dependency and
less per-request work.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import h11

MAX_IDLE_PER_BACKEND = 64
READ_CHUNK = 256 * 1024


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


class _Connection:
    __slots__ = ("conn", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        self.writer.close()


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
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.reader.at_eof() or connection.writer.is_closing():
                connection.close()
                continue
            try:
                return await self._exchange(key, connection, target, headers, body, timeout, fresh=False)
            except UpstreamFailed as exc:
                if exc.sent:
                    raise
                # A keep-alive connection the server had already closed: retry on a fresh one.
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except OSError as exc:
            raise UpstreamFailed(f"cannot connect: {exc}", sent=False) from exc
        return await self._exchange(
            key, _Connection(reader, writer), target, headers, body, timeout, fresh=True
        )

    async def _exchange(
        self,
        key: tuple[str, int],
        connection: _Connection,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: float,
        *,
        fresh: bool,
    ) -> UpstreamResponse:
        conn = connection.conn
        request = h11.Request(
            method="POST",
            target=target,
            headers=[("host", f"{key[0]}:{key[1]}"), ("content-length", str(len(body))), *headers],
        )
        # On a fresh connection the request may have reached the model; on a reused one, only if it answered.
        received = fresh
        try:
            async with asyncio.timeout(timeout):
                connection.writer.write(
                    conn.send(request)
                    + (conn.send(h11.Data(data=body)) if body else b"")
                    + conn.send(h11.EndOfMessage())
                )
                await connection.writer.drain()
                status = 0
                reply_headers: dict[str, str] = {}
                chunks: list[bytes] = []
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await connection.reader.read(READ_CHUNK)
                        received = received or bool(data)
                        conn.receive_data(data)
                        continue
                    if isinstance(event, h11.Response):
                        status = event.status_code
                        reply_headers = {n.decode("latin-1"): v.decode("latin-1") for n, v in event.headers}
                    elif isinstance(event, h11.Data):
                        chunks.append(bytes(event.data))
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        raise UpstreamFailed("the instance closed the connection", sent=received)
        except TimeoutError:
            connection.close()
            raise
        except (OSError, h11.ProtocolError) as exc:
            connection.close()
            raise UpstreamFailed(f"the instance broke the connection: {exc}", sent=received) from exc
        except UpstreamFailed:
            connection.close()
            raise
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle:
                idle.append(connection)
            else:
                connection.close()
        else:
            connection.close()
        return UpstreamResponse(status, reply_headers, b"".join(chunks))

    def forget(self, host: str, port: int) -> None:
        """Close the idle connections to an instance that is gone."""
        for connection in self._idle.pop((host, port), []):
            connection.close()

    def close(self) -> None:
        for key in list(self._idle):
            self.forget(*key)

"""The invocation proxy's client (serving/proxy.py) against scripted servers, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from sagemill.serving.proxy import ConnectionPool, UpstreamFailed

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

LOOPS = ["asyncio"]
try:
    import uvloop

    LOOPS.append("uvloop")
except ImportError:  # pragma: no cover
    pass


def _run(loop_kind: str, main: Coroutine[Any, Any, None]) -> None:
    if loop_kind == "uvloop":
        uvloop.run(main)
    else:
        asyncio.run(main)


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes] | None:
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    line, *fields = head[:-4].split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (f.split(b":", 1) for f in fields)}
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return line, headers, body


class Scripted:
    """A TCP server whose connections run `handler`; counts the connections it accepted."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def _reply(body: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: text/csv", b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def _echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while (request := await _read_request(reader)) is not None:
        line, headers, body = request
        assert line == b"POST /invocations HTTP/1.1"
        extra = b"X-Amzn-SageMaker-Custom-Attributes: " + headers.get(b"accept", b"-")
        writer.write(_reply(body.upper(), extra))
        await writer.drain()


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_keep_alive_reuse_headers_and_large_bodies(loop_kind: str) -> None:
    async def main() -> None:
        scripted = Scripted(_echo_upper)
        async with scripted as port:
            pool = ConnectionPool()
            big = b"abc," * 100_000  # larger than one write joined to the head
            for body in (b"abc", big, b""):
                reply = await pool.post("127.0.0.1", port, "/invocations", [("accept", "text/csv")], body, 5)
                assert (reply.status, reply.body) == (200, body.upper())
                assert reply.headers["x-amzn-sagemaker-custom-attributes"] == "text/csv"  # names lower-cased
            assert scripted.connections == 1
            pool.close()

    _run(loop_kind, main())


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_a_stale_idle_connection_is_retried_on_a_fresh_one(loop_kind: str) -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_request(reader)
        assert request is not None
        writer.write(_reply(b"ok"))  # keep-alive by default, then the server drops it anyway
        await writer.drain()

    async def main() -> None:
        scripted = Scripted(one_then_close)
        async with scripted as port:
            pool = ConnectionPool()
            assert (await pool.post("127.0.0.1", port, "/invocations", [], b"1", 5)).body == b"ok"
            await asyncio.sleep(0.05)  # the close reaches the idle connection
            assert (await pool.post("127.0.0.1", port, "/invocations", [], b"2", 5)).body == b"ok"
            assert scripted.connections == 2
            pool.close()

    _run(loop_kind, main())


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_a_model_that_dies_mid_request_is_reported_as_sent(loop_kind: str) -> None:
    async def die(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        await writer.drain()

    async def main() -> None:
        async with Scripted(die) as port:
            pool = ConnectionPool()
            with pytest.raises(UpstreamFailed) as failed:
                await pool.post("127.0.0.1", port, "/invocations", [], b"x", 5)
            assert failed.value.sent
            assert not pool._idle.get(("127.0.0.1", port))

    _run(loop_kind, main())


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_unframed_chunked_and_closing_replies(loop_kind: str) -> None:
    replies = iter(
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",  # delimited by the close
        ]
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _read_request(reader) is not None:
            reply = next(replies)
            writer.write(reply)
            await writer.drain()
            if (b"Content-Length" not in reply and b"chunked" not in reply) or b"close" in reply:
                return

    async def main() -> None:
        scripted = Scripted(serve)
        async with scripted as port:
            pool = ConnectionPool()
            got = [await pool.post("127.0.0.1", port, "/invocations", [], b"x", 5) for _ in range(3)]
            assert [(r.status, r.body) for r in got] == [
                (200, b"abcde"),
                (201, b"ok"),
                (200, b"until the end"),
            ]
            assert scripted.connections == 3 - 1  # the chunked reply kept its connection for the next
            pool.close()

    _run(loop_kind, main())


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_timeout_closes_the_connection(loop_kind: str) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _read_request(reader) is not None:
            await asyncio.sleep(0.3)
            writer.write(_reply(b"late"))

    async def main() -> None:
        scripted = Scripted(slow)
        async with scripted as port:
            pool = ConnectionPool()
            with pytest.raises(TimeoutError):
                await pool.post("127.0.0.1", port, "/invocations", [], b"x", 0.05)
            assert not pool._idle.get(("127.0.0.1", port))  # its late answer must not reach the next caller
            assert (await pool.post("127.0.0.1", port, "/invocations", [], b"x", 5)).body == b"late"
            assert scripted.connections == 2
            pool.close()

    _run(loop_kind, main())


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_unreachable_and_garbled_instances(loop_kind: str) -> None:
    async def garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)

    async def main() -> None:
        pool = ConnectionPool()
        with pytest.raises(UpstreamFailed) as refused:
            await pool.post("127.0.0.1", 1, "/invocations", [], b"x", 5)
        assert not refused.value.sent
        async with Scripted(garble) as port:
            with pytest.raises(UpstreamFailed) as garbled:
                await pool.post("127.0.0.1", port, "/invocations", [], b"x", 5)
            assert garbled.value.sent

    _run(loop_kind, main())


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_cancelled_exchange_does_not_return_its_connection(loop_kind: str) -> None:
    async def main() -> None:
        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await _read_request(reader) is not None:
                await asyncio.sleep(0.2)
                writer.write(_reply(b"done"))

        scripted = Scripted(slow)
        async with scripted as port:
            pool = ConnectionPool()
            task = asyncio.ensure_future(pool.post("127.0.0.1", port, "/invocations", [], b"x", 5))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not pool._idle.get(("127.0.0.1", port))
            pool.close()

    _run(loop_kind, main())

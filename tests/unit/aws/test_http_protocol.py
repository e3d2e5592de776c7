"""The gateway's HTTP protocol (aws/http_protocol.py): httptools, with h11 taking over what llhttp refuses."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from sagemill.aws.http_protocol import GatewayHttpProtocol


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers `<method> <path> <body length>`; `/stream` answers in three parts."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    text = f"{scope['method']} {scope['path']} {size}".encode()
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"a", b"b", b"c"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=free,
        http=GatewayHttpProtocol,
        loop=request.param,
        lifespan="off",
        log_level="critical",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield free
    server.should_exit = True
    thread.join(10)


def _exchange(port: int, *parts: bytes, replies: int = 1, pause: float = 0.0) -> list[bytes]:
    """Send `parts` (with `pause` between them), then read until `replies` answers or the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)
        data = b""
        while data.count(b"HTTP/1.1 ") < replies or not _complete(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [b"HTTP/1.1 " + answer for answer in data.split(b"HTTP/1.1 ")[1:]]


def _complete(data: bytes) -> bool:
    head, _, body = data.rpartition(b"HTTP/1.1 ")[2].partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return body.endswith(b"0\r\n\r\n") or b"100 Continue" in head


def _request(method: bytes, path: bytes = b"/p", body: bytes = b"", *extra: bytes) -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: x", b"Content-Length: %d" % len(body), *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def test_known_methods_and_keep_alive(port: int) -> None:
    answers = _exchange(port, _request(b"POST", body=b"abc"), replies=1)
    assert answers[0].startswith(b"HTTP/1.1 200") and answers[0].endswith(b"POST /p 3")
    pipelined = _request(b"GET", b"/one") + _request(b"PUT", b"/two", b"xy")
    answers = _exchange(port, pipelined, replies=2)
    assert [a.rsplit(b"\r\n", 1)[1] for a in answers] == [b"GET /one 0", b"PUT /two 2"]


def test_method_tokens_llhttp_refuses_reach_the_app_through_h11(port: int) -> None:
    answers = _exchange(port, _request(b"FROB", body=b"abcd"))
    assert answers[0].startswith(b"HTTP/1.1 200") and answers[0].endswith(b"FROB /p 4")
    # after a request llhttp read on the same connection, and with the head split over two reads
    answers = _exchange(
        port, _request(b"GET"), b"QWE", b"RTY /q HTTP/1.1\r\nHost: x\r\n\r\n", replies=2, pause=0.05
    )
    assert [a.rsplit(b"\r\n", 1)[1] for a in answers] == [b"GET /p 0", b"QWERTY /q 0"]


def test_malformed_and_oversized_heads_get_a_400_as_on_h11(port: int) -> None:
    [answer] = _exchange(port, b"\x00\x01garbage\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"Invalid HTTP request received." in answer
    # A head still unfinished past h11's 16 KiB bound: h11 refuses it (llhttp has no bound of its own).
    huge = _request(b"GET", b"/p", b"", b"X-Big: " + b"a" * 20_000)
    [answer] = _exchange(port, huge[:18_000], huge[18_000:], pause=0.1)
    assert answer.startswith(b"HTTP/1.1 400")


def test_heads_without_bodies_streams_and_interim_answers(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_request(b"HEAD"))
        answer = b""
        while not answer.endswith(b"\r\n\r\n"):  # the held head is sent, with no body to carry it
            chunk = sock.recv(1024)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b"content-length: 9" in answer
    [answer] = _exchange(port, _request(b"GET", b"/stream"))
    assert b"transfer-encoding: chunked" in answer and answer.endswith(b"1\r\nc\r\n0\r\n\r\n")
    head = _request(b"POST", b"/p", b"", b"Expect: 100-continue").replace(b"Length: 0", b"Length: 5")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        data = b""
        while not data.endswith(b"POST /p 5"):
            chunk = sock.recv(1024)
            assert chunk, data
            data += chunk

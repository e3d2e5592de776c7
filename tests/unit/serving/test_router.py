"""The routing table (weighted variants, least-in-flight instances) and the pooled proxy on a tiny server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sagemill.metrics.invocations import EndpointRef, InMemoryRecorder
from sagemill.serving.proxy import ConnectionPool, UpstreamFailed
from sagemill.serving.router import Backend, EndpointRoute, NoBackend, RoutingTable, VariantRoute

A, B = Backend("i-a", "127.0.0.1", 1), Backend("i-b", "127.0.0.1", 2)
REF = EndpointRef("111122223333", "us-east-1", "MyEndpoint")


def _route(*variants: VariantRoute) -> EndpointRoute:
    return EndpointRoute(REF, "cfg", variants)


def test_lookup_is_case_insensitive_and_scoped_by_account() -> None:
    table = RoutingTable()
    table.publish(_route(VariantRoute("v", 1.0, (A,))))
    assert table.get("111122223333", "us-east-1", "myendpoint") is not None
    assert table.get("999999999999", "us-east-1", "MyEndpoint") is None
    table.remove("111122223333", "us-east-1", "MYENDPOINT")
    assert table.get("111122223333", "us-east-1", "MyEndpoint") is None


def test_variant_by_weight_skips_variants_without_instances() -> None:
    values = iter([0.1, 0.9])
    table = RoutingTable(rand=lambda: next(values))
    route = _route(VariantRoute("blue", 1.0, (A,)), VariantRoute("green", 1.0, (B,)))
    assert table.pick_variant(route).name == "blue"
    assert table.pick_variant(route).name == "green"
    empty = _route(VariantRoute("blue", 1.0, ()), VariantRoute("green", 0.0, (B,)))
    with pytest.raises(NoBackend):
        RoutingTable().pick_variant(empty)


def test_backend_by_least_in_flight() -> None:
    table = RoutingTable(rand=lambda: 0.0)
    variant = VariantRoute("v", 1.0, (A, B))
    table.acquire(A)
    assert table.pick_backend(variant) == B
    table.acquire(B)
    table.acquire(B)
    assert table.pick_backend(variant) == A
    assert table.pick_backend(variant, avoid=A) == B
    table.release(B)
    table.release(B)
    assert table.in_flight(B) == 0 and table.in_flight(A) == 1


def test_recorder_aggregates() -> None:
    recorder = InMemoryRecorder()
    recorder.record_invocation(REF, "v", "cfg", 100, 20, 200)
    recorder.record_invocation(REF, "v", "cfg", 300, 40, 424)
    totals = recorder.snapshot()[(REF, "v", "cfg")]
    assert (totals.invocations, totals.errors_4xx, totals.model_latency_us_max) == (2, 1, 300)


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        reply = body.upper()
        self.send_response(200 if body != b"bad" else 400)
        self.send_header("Content-Type", self.headers.get("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_pool_reuses_connections_and_reports_failures(echo: int) -> None:
    async def run() -> None:
        pool = ConnectionPool()
        for text in (b"abc", b"def", b"bad"):
            reply = await pool.post(
                "127.0.0.1", echo, "/invocations", [("content-type", "text/csv")], text, 5
            )
            assert reply.body == text.upper() and reply.headers["content-type"] == "text/csv"
        assert reply.status == 400
        assert len(pool._idle[("127.0.0.1", echo)]) == 1  # one connection carried all three
        pool.close()
        with pytest.raises(UpstreamFailed) as failed:
            await pool.post("127.0.0.1", 1, "/invocations", [], b"x", 1)
        assert not failed.value.sent

    asyncio.run(run())

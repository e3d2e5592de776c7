"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools one, with h11 for requests llhttp refuses.

Why: llhttp (httptools) costs a fraction of h11's CPU per request, but it refuses some requests that h11
reads, notably any method token it does not know (`FOO / HTTP/1.1`), which uvicorn would then answer
with its bare, un-AWS-like 400. Such a request is replayed, from its first byte, into uvicorn's h11
protocol, which takes over the connection: the gateway answers it (and anything after it) exactly as
it did when it ran on h11 alone. A head llhttp refuses that cannot be replayed (it shares a read with
the end of a pipelined request) gets uvicorn's usual 400.

Also, a response's head is written together with the first part of its body: uvicorn writes them
apart, which costs a second send() and often a second segment and wake-up for the client.

This leans on uvicorn's httptools_impl internals (its parser callbacks, `_start_asgi_task`, the
cycle's `transport`); tests/unit/aws/test_http_protocol.py pins the behaviour.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState


class GatewayHttpProtocol(HttpToolsProtocol):
    """`uvicorn.Config(http=GatewayHttpProtocol)`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # The reads since the current request's head began, while it can still be replayed: set when a
        # read starts between requests, dropped once the head is parsed.
        self._replay: list[bytes] | None = None
        self._replay_size = 0
        # h11's bound on an unfinished head; llhttp has none, so a longer one goes to h11 to be refused.
        self._max_head = config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self._between = True  # no request has begun since the last one ended
        self._ended_in_read = False  # a request ended within the current read (its tail precedes ours)
        self._writes: _JoinedWrites | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._writes = _JoinedWrites(transport)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        assert self._writes is not None
        self._writes.bind(cycle)
        cycle.transport = self._writes  # type: ignore[assignment]
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        if self._writes is not None:
            self._writes.flush()  # a response without body bytes (HEAD, or an empty body never written)
        super().on_response_complete()

    def data_received(self, data: bytes) -> None:
        if self._between:
            self._replay = [data]
            self._replay_size = len(data)
        elif self._replay is not None:  # the head goes on in this read
            self._replay.append(data)
            self._replay_size += len(data)
        self._ended_in_read = False
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # As uvicorn's own data_received (this protocol's only change is the error branch).
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            replay = self._replay
            if replay is None or self._ended_in_read or not self._idle():
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            self._hand_over(b"".join(replay))
            return
        if self._replay is not None and self._replay_size > self._max_head:
            if self._idle():
                self._hand_over(b"".join(self._replay))
            else:  # a pipelined head past the bound: refused as h11 would, without holding it all
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _hand_over(self, head: bytes) -> None:
        """Let uvicorn's h11 protocol take the connection over, from the refused request's first byte."""
        successor = H11Protocol(self.config, self.server_state, self.app_state, self.loop)
        self.connections.discard(self)  # the successor registers itself (graceful shutdown walks these)
        self.parser = None  # type: ignore[assignment]
        self.transport.set_protocol(successor)
        successor.connection_made(self.transport)
        successor.data_received(head)

    def on_message_begin(self) -> None:
        self._between = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._replay = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._between = True
        self._ended_in_read = True
        super().on_message_complete()


class _JoinedWrites:
    """The transport as a response cycle sees it: the response head waits for the first body write."""

    __slots__ = ("cycle", "head_seen", "held", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.cycle: RequestResponseCycle | None = None
        self.held: bytes | None = None
        self.head_seen = False

    def bind(self, cycle: RequestResponseCycle) -> None:
        self.cycle = cycle
        self.held = None
        self.head_seen = False

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if len(data) <= 65536:
                self.transport.write(held + data)
            else:
                self.transport.writelines((held, data))  # no copy of a large body
        elif not self.head_seen and self.cycle is not None and self.cycle.response_started:
            # The cycle's first write once its response started is the head (an interim
            # `100 Continue` is written before that, and is not held).
            self.head_seen = True
            self.held = data
        else:
            self.transport.write(data)

    def flush(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

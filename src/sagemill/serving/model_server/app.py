"""The raw ASGI app: /ping, /invocations and /execution-parameters with no framework on the hot path."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sagemill.serving.model_server.errors import InferenceError
from sagemill.serving.model_server.handler import Handler, max_payload_mb

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"


def log(line: str) -> None:
    """One line to stdout, which the platform ships to CloudWatch Logs; flushed so none is lost on exit."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class ModelServerApp:
    """Loads the model on a background thread at start-up; /ping is 503 until it is loaded, then 200.

    Built-in handlers run inline on the event loop (a thread hop costs more than their prediction);
    user code runs on one worker thread, one request at a time as a single sync worker would, under
    SAGEMAKER_MODEL_SERVER_TIMEOUT. A timed-out call cannot be interrupted: its thread finishes it,
    and later requests wait behind it.
    """

    def __init__(
        self, load: Callable[[], Handler], timeout: float, on_load_failure: Callable[[str], None]
    ) -> None:
        self._load = load
        self._timeout = timeout
        self._on_load_failure = on_load_failure
        self.handler: Handler | None = None
        self.max_body = max_payload_mb() * 1024 * 1024
        self._executor: ThreadPoolExecutor | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start_loading(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._executor is not None:
                    self._executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start_loading(self, loop: asyncio.AbstractEventLoop) -> None:
        """A daemon thread, so a SIGTERM during a slow load does not wait for it."""
        started = time.monotonic()

        def run() -> None:
            try:
                handler = self._load()
            except BaseException as error:
                reason = f"{type(error).__name__}: {error}"
                loop.call_soon_threadsafe(self._on_load_failure, reason)
                return
            loop.call_soon_threadsafe(self._loaded, handler, time.monotonic() - started)

        threading.Thread(target=run, name="model-loader", daemon=True).start()

    def _loaded(self, handler: Handler, seconds: float) -> None:
        if not handler.inline:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.handler = handler
        describe = getattr(handler, "describe", lambda: type(handler).__name__)
        log(f"model loaded in {seconds:.2f} s: {describe()}; ready")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method != "POST":
                await _respond(send, 405, b"Method not allowed: use POST.", _TEXT)
                return
            await self._invocations(scope, receive, send)
        elif path == "/ping":
            if self.handler is not None:
                await _respond(send, 200, b"", _TEXT)
            else:
                await _respond(send, 503, b"Model is loading.", _TEXT)
        elif path == "/execution-parameters" and method == "GET":
            parameters = self.handler.execution_parameters() if self.handler is not None else None
            if parameters is None:
                await _respond(send, 404, b"No execution parameters.", _TEXT)
            else:
                await _respond(send, 200, json.dumps(parameters).encode(), _JSON)
        else:
            await _respond(send, 404, b"Not found.", _TEXT)

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._body(receive)
        handler = self.handler
        if body is None:
            await self._fail(
                send, 413, f"Request body exceeds the {self.max_body // 2**20} MB payload limit."
            )
            return
        if handler is None:
            await self._fail(send, 503, "Model is loading.")
            return
        if not body:  # as the XGBoost container: an empty request gets an empty 204
            await _respond(send, 204, b"", _TEXT)
            return
        content_type = accept = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
        try:
            if handler.inline:
                output, output_type = handler.invoke(body, content_type, accept)
            else:
                loop = asyncio.get_running_loop()
                call = loop.run_in_executor(self._executor, handler.invoke, body, content_type, accept)
                done, _ = await asyncio.wait({call}, timeout=self._timeout)
                if not done:  # not wait_for: a TimeoutError raised by user code is a plain 500
                    raise _TimedOut
                output, output_type = call.result()
        except InferenceError as error:
            await self._fail(send, error.status, error.message)
            return
        except _TimedOut:
            await self._fail(send, 504, f"Model server timed out after {self._timeout:g} s.")
            return
        except Exception as error:
            # User code (or a handler bug): 500 with the message; the platform reports it as a ModelError.
            await self._fail(send, 500, f"{type(error).__name__}: {error}", _where(error))
            return
        await _respond(send, 200, output, output_type.encode("latin-1"))

    async def _body(self, receive: Receive) -> bytes | None:
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):  # the common case: one message
            return body if len(body) <= self.max_body else None
        parts = [body]
        size = len(body)
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            parts.append(chunk)
        return b"".join(parts)

    async def _fail(self, send: Send, status: int, message: str, where: str = "") -> None:
        # The one log line per failed request (successes are not logged: that would cost throughput).
        log(f"ERROR POST /invocations {status}: {message}{where}".replace("\n", " | "))
        await _respond(send, status, message.encode(), _TEXT)


class _TimedOut(Exception):
    """SAGEMAKER_MODEL_SERVER_TIMEOUT passed before user code answered."""


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})

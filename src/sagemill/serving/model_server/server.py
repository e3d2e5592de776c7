"""The uvicorn run: one worker, uvloop + httptools when installed, graceful SIGTERM, exit status."""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from sagemill.serving.model_server.app import ModelServerApp, log
from sagemill.serving.model_server.handler import Handler

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM after its graceful shutdown, which would end the process by the
    signal; the platform reads a clean stop as exit 0, so the handlers are installed without the re-raise."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if not self.should_exit:
            log(f"received {signal.Signals(sig).name}: finishing in-flight requests, then exiting")
        super().handle_exit(sig, frame)


def serve(load: Callable[[], Handler], host: str, port: int, *, timeout: float, grace: float) -> int:
    """Serve until SIGTERM/SIGINT (→ 0) or a model that fails to load (→ 1, the reason on stderr)."""
    failure: list[str] = []
    server: _Server | None = None

    def on_load_failure(reason: str) -> None:
        failure.append(reason)
        sys.stderr.write(f"Failed to load the model: {reason}\n")
        sys.stderr.flush()
        if server is not None:
            server.should_exit = True

    app = ModelServerApp(load, timeout, on_load_failure)
    fast = (
        importlib.util.find_spec("uvloop") is not None and importlib.util.find_spec("httptools") is not None
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # uvloop also sets TCP_NODELAY on accepted sockets (see docs serving-performance pitfall 1).
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "h11",
        workers=1,
        access_log=False,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=int(grace) if grace >= 1 else 1,
        # Longer than a load balancer's usual idle timeout, so the router's pooled connections survive.
        timeout_keep_alive=75,
        server_header=False,
        date_header=False,
    )
    server = _Server(config)
    log(f"model server starting on {host}:{port} ({'uvloop+httptools' if fast else 'asyncio+h11'}, 1 worker)")
    server.run()
    if failure:
        return 1
    if not server.started:
        # uvicorn logs why (usually the port is taken) and returns without raising.
        sys.stderr.write(f"Failed to start the model server on {host}:{port}\n")
        return 1
    log("model server stopped")
    return 0

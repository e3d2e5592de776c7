"""Composition root: the only module that names concrete adapters and wires them together."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread

from sagemill import __version__
from sagemill.aws.auth import Authenticator
from sagemill.aws.dispatch import Dispatcher
from sagemill.aws.gateway import Gateway, Receive, Scope, Send
from sagemill.config import Settings
from sagemill.control.loop import Loop
from sagemill.security.authenticators import DevAuthenticator
from sagemill.services.clock import Clock, system_clock
from sagemill.services.sagemaker import provider as sagemaker_provider
from sagemill.services.sts import provider as sts_provider
from sagemill.store.base import Store
from sagemill.store.sql.repositories import SqlStore


class Application:
    """The running platform: store, authenticator, dispatcher and the ASGI gateway."""

    def __init__(self, settings: Settings, store: Store, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.store = store
        self.dispatcher = Dispatcher()
        self.dispatcher.register("sagemaker", sagemaker_provider.operations(store, clock))
        self.dispatcher.register("sts", sts_provider.operations())
        self.gateway = Gateway(
            self.dispatcher,
            make_authenticator(settings, store, clock),
            max_body_bytes=settings.max_body_bytes,
            extensions=self._extensions,
            on_startup=self._start_background,
            on_shutdown=self._stop_background,
        )
        # Work repeated while the server runs: retention, reconcilers.
        self.background = Loop([])

    async def _start_background(self) -> None:
        self.background.start()

    async def _stop_background(self) -> None:
        await anyio.to_thread.run_sync(self.background.stop)

    async def _extensions(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sagemill's own small HTTP API under /_sagemill/."""
        if scope["path"] == "/_sagemill/health":
            status, body = 200, {"status": "ok", "version": __version__}
        else:
            status, body = 404, {"__type": "NotFound", "message": f"No Sagemill route {scope['path'][:128]}."}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def close(self) -> None:
        self.store.close()


def make_authenticator(settings: Settings, store: Store, clock: Clock) -> Authenticator:
    if settings.auth == "strict":
        from sagemill.security.keyring import Keyring
        from sagemill.security.strict import StrictAuthenticator

        return StrictAuthenticator(
            store, Keyring.load_or_create(settings.data_dir), clock, settings.max_clock_skew_seconds
        )
    return DevAuthenticator()


def open_store(settings: Settings) -> SqlStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqlStore(settings.resolved_database_url)


def build(settings: Settings, **overrides: Any) -> Application:
    return Application(settings, open_store(settings), **overrides)

"""Shadow variants' traffic: a sampled copy of each request, sent beside the production one, answer dropped.

The copy never delays or fails the caller's request: it runs as its own task after the production
request is under way, its answer is read and discarded, and its outcome is recorded only as the shadow
variant's invocation metrics (so alarms and dashboards can judge the new model on real traffic). When a
shadow falls behind, copies beyond `max_in_flight` per shadow are dropped, not queued: a slow shadow
must not grow the gateway's memory or steal its event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence

from sagemill.metrics.invocations import InvocationRecorder
from sagemill.serving.proxy import ConnectionPool, UpstreamFailed
from sagemill.serving.router import EndpointRoute, NoBackend, RoutingTable, VariantRoute

log = logging.getLogger("sagemill.serving.shadow")

MAX_IN_FLIGHT = 64


class ShadowCopier:
    """Sends sampled copies of requests to an endpoint's shadow variants."""

    def __init__(
        self,
        table: RoutingTable,
        pool: ConnectionPool,
        recorder: InvocationRecorder,
        timeout: float,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.table = table
        self.pool = pool
        self.recorder = recorder
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.rand = rand
        self.dropped = 0
        """Copies not sent because their shadow had `max_in_flight` copies under way."""
        self._in_flight: dict[tuple[str, str, str, str], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # held so a running copy is not garbage-collected

    def copy(self, route: EndpointRoute, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        """Start a copy of the request to each shadow variant whose sample it falls in."""
        for shadow in route.shadows:
            if not shadow.backends or self.rand() >= shadow.weight:
                continue
            ref = route.endpoint
            key = (ref.account_id, ref.region, ref.name.lower(), shadow.name)
            if self._in_flight.get(key, 0) >= self.max_in_flight:
                self.dropped += 1
                continue
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            task = asyncio.create_task(self._send(route, shadow, list(headers), body, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(
        self,
        route: EndpointRoute,
        shadow: VariantRoute,
        headers: list[tuple[str, str]],
        body: bytes,
        key: tuple[str, str, str, str],
    ) -> None:
        started = time.perf_counter()
        status = 500
        try:
            backend = self.table.pick_backend(shadow)
        except NoBackend:
            self._release(key)
            return
        self.table.acquire(backend)
        try:
            reply = await self.pool.post(
                backend.host, backend.port, "/invocations", headers, body, self.timeout
            )
            status = reply.status
        except TimeoutError:
            status = 504
        except UpstreamFailed:
            status = 500
        except Exception:  # a copy must never take the gateway down; the shadow's metrics show the failure
            log.exception("shadow copy to %s failed", shadow.name)
        finally:
            self.table.release(backend)
            self._release(key)
        model_us = int((time.perf_counter() - started) * 1e6)
        self.recorder.record_invocation(
            route.endpoint,
            shadow.name,
            shadow.config_name or route.config_name,
            model_us,
            0,
            status,
            model_error=not 200 <= status < 300,
            instances=len(shadow.backends),
        )

    def _release(self, key: tuple[str, str, str, str]) -> None:
        left = self._in_flight.get(key, 1) - 1
        if left <= 0:
            self._in_flight.pop(key, None)
        else:
            self._in_flight[key] = left

"""ShadowCopier against a fake pool: sampling, metrics per copy, failures kept from the caller, dropping."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sagemill.metrics.invocations import EndpointRef
from sagemill.serving.proxy import UpstreamFailed, UpstreamResponse
from sagemill.serving.router import Backend, EndpointRoute, RoutingTable, VariantRoute
from sagemill.serving.shadow import ShadowCopier

REF = EndpointRef("111122223333", "us-east-1", "ep")
LIVE = VariantRoute("Live", 1.0, (Backend("i-live", "127.0.0.1", 1),))


class FakePool:
    def __init__(self, outcome: Any = 200, gate: asyncio.Event | None = None) -> None:
        self.outcome, self.gate, self.sent = outcome, gate, 0

    async def post(
        self, host: str, port: int, path: str, headers: Sequence[tuple[str, str]], body: bytes, timeout: float
    ) -> UpstreamResponse:
        self.sent += 1
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return UpstreamResponse(self.outcome, {}, b"ignored")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bool, int]] = []

    def record_invocation(
        self,
        endpoint: EndpointRef,
        variant: str,
        config: str,
        model_latency_us: int,
        overhead_latency_us: int,
        status: int,
        *,
        model_error: bool = False,
        instances: int = 1,
    ) -> None:
        self.calls.append((variant, status, model_error, overhead_latency_us))


def _route(weight: float, backends: int = 1) -> EndpointRoute:
    shadow = VariantRoute(
        "Shadow", weight, tuple(Backend(f"i-s{n}", "127.0.0.1", 10 + n) for n in range(backends))
    )
    return EndpointRoute(REF, "cfg", (LIVE,), shadows=(shadow,))


def _copier(pool: FakePool, recorder: Recorder, draws: list[float], **kw: Any) -> ShadowCopier:
    values = iter(draws)
    return ShadowCopier(RoutingTable(), pool, recorder, 1.0, rand=lambda: next(values), **kw)  # type: ignore[arg-type]


async def _drain(copier: ShadowCopier) -> None:
    while copier._tasks:
        await asyncio.gather(*list(copier._tasks))


def test_copies_follow_the_sample_and_record_the_shadow() -> None:
    async def scenario() -> tuple[FakePool, Recorder]:
        pool, recorder = FakePool(), Recorder()
        copier = _copier(pool, recorder, [0.1, 0.3, 0.29, 0.9])
        for _ in range(4):
            copier.copy(_route(0.3), [("content-type", "text/csv")], b"1,2")
        await _drain(copier)
        return pool, recorder

    pool, recorder = asyncio.run(scenario())
    assert pool.sent == 2  # the draws under 0.3
    assert recorder.calls == [("Shadow", 200, False, 0)] * 2


def test_failures_are_recorded_as_model_errors() -> None:
    async def scenario(outcome: Any) -> list[tuple[str, int, bool, int]]:
        recorder = Recorder()
        copier = _copier(FakePool(outcome), recorder, [0.0])
        copier.copy(_route(1.0), [], b"")
        await _drain(copier)
        return recorder.calls

    assert asyncio.run(scenario(400)) == [("Shadow", 400, True, 0)]
    assert asyncio.run(scenario(TimeoutError())) == [("Shadow", 504, True, 0)]
    assert asyncio.run(scenario(UpstreamFailed("gone", sent=True))) == [("Shadow", 500, True, 0)]
    assert asyncio.run(scenario(RuntimeError("bug"))) == [("Shadow", 500, True, 0)]


def test_a_slow_shadow_drops_copies_beyond_its_limit() -> None:
    async def scenario() -> tuple[int, int, int]:
        gate = asyncio.Event()
        pool, recorder = FakePool(gate=gate), Recorder()
        copier = _copier(pool, recorder, [0.0] * 5, max_in_flight=2)
        for _ in range(5):
            copier.copy(_route(1.0), [], b"")
        await asyncio.sleep(0)
        gate.set()
        await _drain(copier)
        copier_after = _copier(pool, recorder, [0.0], max_in_flight=2)
        copier_after.copy(_route(1.0), [], b"")
        await _drain(copier_after)
        return pool.sent, copier.dropped, len(recorder.calls)

    sent, dropped, recorded = asyncio.run(scenario())
    assert (sent, dropped, recorded) == (3, 3, 3)


def test_a_shadow_without_ready_instances_gets_nothing() -> None:
    async def scenario() -> int:
        pool = FakePool()
        copier = _copier(pool, Recorder(), [0.0])
        copier.copy(_route(1.0, backends=0), [], b"")
        await _drain(copier)
        return pool.sent

    assert asyncio.run(scenario()) == 0

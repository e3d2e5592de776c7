"""Per-invocation metrics (ModelLatency, OverheadLatency, errors): the recorder port and an in-memory one.

The data plane calls `record_invocation` once per request on the event loop, so it must stay cheap:
no I/O, no lock (one event loop thread records), a dict update and a few additions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EndpointRef:
    account_id: str
    region: str
    name: str


class InvocationRecorder(Protocol):
    """Where the data plane reports invocations; a later store persists them as CloudWatch series."""

    def record_invocation(
        self,
        endpoint: EndpointRef,
        variant: str,
        config: str,
        model_latency_us: int,
        overhead_latency_us: int,
        status: int,
    ) -> None: ...


@dataclass(slots=True)
class InvocationTotals:
    """Running sums for one (endpoint, variant, config): enough for counts, averages, maxima, error rates."""

    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency_us_sum: int = 0
    model_latency_us_max: int = 0
    overhead_latency_us_sum: int = 0
    overhead_latency_us_max: int = 0


class InMemoryRecorder:
    """Aggregates in memory; `snapshot()` reads the totals (operators, tests, benchmarks)."""

    def __init__(self) -> None:
        self._totals: dict[tuple[EndpointRef, str, str], InvocationTotals] = {}

    def record_invocation(
        self,
        endpoint: EndpointRef,
        variant: str,
        config: str,
        model_latency_us: int,
        overhead_latency_us: int,
        status: int,
    ) -> None:
        key = (endpoint, variant, config)
        totals = self._totals.get(key)
        if totals is None:
            totals = self._totals[key] = InvocationTotals()
        totals.invocations += 1
        if 400 <= status < 500:
            totals.errors_4xx += 1
        elif status >= 500:
            totals.errors_5xx += 1
        totals.model_latency_us_sum += model_latency_us
        totals.model_latency_us_max = max(totals.model_latency_us_max, model_latency_us)
        totals.overhead_latency_us_sum += overhead_latency_us
        totals.overhead_latency_us_max = max(totals.overhead_latency_us_max, overhead_latency_us)

    def snapshot(self) -> dict[tuple[EndpointRef, str, str], InvocationTotals]:
        return {
            k: InvocationTotals(**{f: getattr(v, f) for f in v.__slots__}) for k, v in self._totals.items()
        }

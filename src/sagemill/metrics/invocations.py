"""Per-invocation metrics: the recorder port, running totals, and per-second buckets for CloudWatch.

The data plane calls `record_invocation` once per request on the event loop, so it must stay cheap:
no I/O, a dict update and a few additions, and one uncontended lock that the flusher thread takes only
to swap finished seconds out (`BucketingRecorder.drain`).

Latency buckets (ModelLatency, OverheadLatency, integer microseconds), 3 significant digits: a value
of 1,000 µs or less is its own bucket (exact); a larger value x falls in the bucket (ub - s, ub], where s
is the power of ten with 100*s < x <= 1000*s and ub is x rounded up to a multiple of s. Each bucket keeps
the exact count, sum, minimum and maximum of its values, so SampleCount/Sum/Average/Minimum/Maximum stay
exact; percentiles use one value per bucket, the midrange (min + max) / 2. Every x in a bucket is within
(max - min) / 2 < s / 2 of it, and x > 100*s, so the error is below 0.5% of x; a percentile drawn from
the bucket values is therefore within 0.5% of the same percentile of the raw values. (The bucket mean,
the other natural choice, can be up to 1% off when a bucket's values crowd one end.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Seconds the recorder holds while no flusher drains them (a server that never started one): the
# oldest are dropped so memory stays bounded; a running flusher drains every second.
MAX_PENDING_SECONDS = 300


@dataclass(frozen=True, slots=True)
class EndpointRef:
    account_id: str
    region: str
    name: str


class InvocationRecorder(Protocol):
    """Where the data plane reports invocations.

    `status` is the model's own HTTP status when it answered, else the status the caller got (500 when
    the instance died mid-request, 504 when it did not answer in time); `model_error` is true when the
    model's reply was not a 2xx (including no reply at all); `instances` is the number of active
    instances of the variant when the request was routed.
    """

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
    model_errors: int = 0


WindowKey = tuple[EndpointRef, str, str]
"""(endpoint, variant, endpoint config)."""


class InMemoryRecorder:
    """Aggregates in memory; `snapshot()` reads the totals (operators, tests, benchmarks)."""

    def __init__(self) -> None:
        self._totals: dict[WindowKey, InvocationTotals] = {}

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
        key = (endpoint, variant, config)
        totals = self._totals.get(key)
        if totals is None:
            totals = self._totals[key] = InvocationTotals()
        totals.invocations += 1
        if 400 <= status < 500:
            totals.errors_4xx += 1
        elif status >= 500:
            totals.errors_5xx += 1
        if model_error:
            totals.model_errors += 1
        totals.model_latency_us_sum += model_latency_us
        totals.model_latency_us_max = max(totals.model_latency_us_max, model_latency_us)
        totals.overhead_latency_us_sum += overhead_latency_us
        totals.overhead_latency_us_max = max(totals.overhead_latency_us_max, overhead_latency_us)
        self._also_record(key, model_latency_us, overhead_latency_us, status, model_error, instances)

    def _also_record(
        self, key: WindowKey, model_us: int, overhead_us: int, status: int, model_error: bool, instances: int
    ) -> None:
        """What a subclass keeps besides the totals, called once per invocation after them (here: nothing)."""

    def snapshot(self) -> dict[WindowKey, InvocationTotals]:
        return {
            k: InvocationTotals(**{f: getattr(v, f) for f in v.__slots__}) for k, v in self._totals.items()
        }


def latency_bucket(us: int) -> int:
    """The upper bound of `us`'s bucket: `us` itself up to 1,000, else `us` rounded up to 3 digits."""
    if us <= 1000:
        return us if us > 0 else 0
    scale = 10
    while us > scale * 1000:
        scale *= 10
    return -(-us // scale) * scale


LatencyBuckets = dict[int, list[int]]
"""Bucket upper bound -> [count, sum, minimum, maximum] of the values in it."""


def observe(buckets: LatencyBuckets, us: int) -> None:
    key = latency_bucket(us)
    bucket = buckets.get(key)
    if bucket is None:
        buckets[key] = [1, us, us, us]
        return
    bucket[0] += 1
    bucket[1] += us
    if us < bucket[2]:
        bucket[2] = us
    elif us > bucket[3]:
        bucket[3] = us


def merge_buckets(into: LatencyBuckets, other: LatencyBuckets) -> None:
    for key, (count, total, low, high) in other.items():
        bucket = into.get(key)
        if bucket is None:
            into[key] = [count, total, low, high]
        else:
            bucket[0] += count
            bucket[1] += total
            bucket[2] = min(bucket[2], low)
            bucket[3] = max(bucket[3], high)


class SecondWindow:
    """Every invocation of one (endpoint, variant, config) within one second."""

    __slots__ = (
        "errors_4xx",
        "errors_5xx",
        "instances",
        "invocations",
        "model_errors",
        "model_latency",
        "overhead_latency",
    )

    def __init__(self) -> None:
        self.invocations = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        self.model_errors = 0
        self.instances: dict[int, int] = {}
        """Active instance count -> invocations routed while the variant had that many."""
        self.model_latency: LatencyBuckets = {}
        self.overhead_latency: LatencyBuckets = {}

    def add(self, model_us: int, overhead_us: int, status: int, model_error: bool, instances: int) -> None:
        self.invocations += 1
        if status >= 400:
            if status < 500:
                self.errors_4xx += 1
            else:
                self.errors_5xx += 1
        if model_error:
            self.model_errors += 1
        self.instances[instances] = self.instances.get(instances, 0) + 1
        observe(self.model_latency, model_us)
        observe(self.overhead_latency, overhead_us)

    def merge(self, other: SecondWindow) -> None:
        self.invocations += other.invocations
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.model_errors += other.model_errors
        for instances, count in other.instances.items():
            self.instances[instances] = self.instances.get(instances, 0) + count
        merge_buckets(self.model_latency, other.model_latency)
        merge_buckets(self.overhead_latency, other.overhead_latency)


Drained = list[tuple[int, WindowKey, SecondWindow]]
"""(second, key, window) for every finished second a drain took."""


class BucketingRecorder(InMemoryRecorder):
    """The totals plus one SecondWindow per key and second, until a flusher drains them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        # Held by record_invocation (event loop) for a few dict operations and by drain (flusher
        # thread) for a swap: a window is never read while an invocation is half added to it.
        self._lock = threading.Lock()
        self._seconds: dict[int, dict[WindowKey, SecondWindow]] = {}
        self.dropped_seconds = 0
        """Seconds discarded because nothing drained them (see MAX_PENDING_SECONDS)."""

    def _also_record(
        self, key: WindowKey, model_us: int, overhead_us: int, status: int, model_error: bool, instances: int
    ) -> None:
        second = int(self._clock())
        with self._lock:
            windows = self._seconds.get(second)
            if windows is None:
                if len(self._seconds) >= MAX_PENDING_SECONDS:
                    del self._seconds[min(self._seconds)]
                    self.dropped_seconds += 1
                windows = self._seconds[second] = {}
            window = windows.get(key)
            if window is None:
                window = windows[key] = SecondWindow()
            window.add(model_us, overhead_us, status, model_error, instances)

    def drain(self, *, everything: bool = False) -> Drained:
        """Take every finished second (all of them with `everything`, at shutdown), oldest first."""
        now = int(self._clock())
        with self._lock:
            done = sorted(s for s in self._seconds if everything or s < now)
            taken = [(s, self._seconds.pop(s)) for s in done]
        return [(second, key, window) for second, windows in taken for key, window in windows.items()]

"""Writes the recorder's per-second invocation windows to the MetricStore as `AWS/SageMaker` metrics.

Each drained second becomes samples under both dimension sets SageMaker publishes, {EndpointName,
VariantName} and {EndpointConfigName, EndpointName, VariantName}:
- `Invocations`: one sample per second, count n, value 1 (Sum = SampleCount = n).
- `Invocation4XXErrors`, `Invocation5XXErrors`, `InvocationModelErrors`: 1 or 0 per request, written as
  at most two samples (value 0 with count n - k, value 1 with count k): Sum = k and Average = k / n exactly,
  and percentiles see the true 0/1 distribution.
- `InvocationsPerInstance`: 1 / active instances per request, one sample per distinct instance count.
- `ModelLatency`, `OverheadLatency` (Microseconds): one sample per latency bucket (see
  metrics/invocations.py for the buckets and their 0.5% bound).
The flusher thread drains every second and once more at shutdown; a failed write is kept and retried
with the next flush (up to MAX_UNSENT samples, then the oldest are dropped and logged).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence

from sagemill.metrics.invocations import BucketingRecorder, Drained, SecondWindow
from sagemill.store.metrics import MetricKey, MetricStore, Sample

log = logging.getLogger("sagemill.metrics.invocations")

NAMESPACE = "AWS/SageMaker"
FLUSH_SECONDS = 1.0
MAX_UNSENT = 200_000
_ERRORS = ("Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors")

Dimensions = tuple[tuple[str, str], ...]
Observer = Callable[[Drained], None]
"""Also handed every drain (the Prometheus endpoint counters fold them in)."""


def dimension_sets(endpoint: str, variant: str, config: str) -> tuple[Dimensions, Dimensions]:
    """Both sets, each sorted by name as MetricKey requires."""
    return (
        (("EndpointName", endpoint), ("VariantName", variant)),
        (("EndpointConfigName", config), ("EndpointName", endpoint), ("VariantName", variant)),
    )


def to_samples(drained: Drained) -> list[tuple[MetricKey, Sample]]:
    """The samples of drained windows; windows sharing a second and a dimension set are merged first."""
    merged: dict[tuple[int, str, str, Dimensions], SecondWindow] = {}
    for second, (ref, variant, config), window in drained:
        for dims in dimension_sets(ref.name, variant, config):
            key = (second, ref.account_id, ref.region, dims)
            target = merged.get(key)
            if target is None:
                target = merged[key] = SecondWindow()
            target.merge(window)
    out: list[tuple[MetricKey, Sample]] = []
    for (second, account, region, dims), window in merged.items():
        out.extend(window_samples(account, region, dims, second, window))
    return out


def window_samples(
    account: str, region: str, dims: Dimensions, second: int, window: SecondWindow
) -> Iterator[tuple[MetricKey, Sample]]:
    def key(name: str) -> MetricKey:
        return MetricKey(account, region, NAMESPACE, name, dims)

    n = window.invocations
    yield key("Invocations"), Sample(second, n, n, 1.0, 1.0, 1.0)
    for name, k in zip(_ERRORS, (window.errors_4xx, window.errors_5xx, window.model_errors), strict=True):
        if n - k:
            yield key(name), Sample(second, n - k, 0.0, 0.0, 0.0, 0.0)
        if k:
            yield key(name), Sample(second, k, k, 1.0, 1.0, 1.0)
    for instances, count in sorted(window.instances.items()):
        share = 1.0 / max(instances, 1)
        yield key("InvocationsPerInstance"), Sample(second, count, count * share, share, share, share)
    latencies = (("ModelLatency", window.model_latency), ("OverheadLatency", window.overhead_latency))
    for name, buckets in latencies:
        for _upper, (count, total, low, high) in sorted(buckets.items()):
            yield key(name), Sample(second, count, total, low, high, (low + high) / 2, "Microseconds")


class InvocationFlusher:
    """A daemon thread that drains the recorder every `interval` seconds into the store and observers."""

    def __init__(
        self,
        recorder: BucketingRecorder,
        store: MetricStore | None,
        *,
        interval: float = FLUSH_SECONDS,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.interval = interval
        self.observers = tuple(observers)
        self._unsent: list[tuple[MetricKey, Sample]] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # One flush at a time: the thread's and stop()'s final one must not interleave.
        self._flushing = threading.Lock()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="invocation-metrics", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and write everything still held, the current second included."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush(everything=True)

    def flush(self, *, everything: bool = False) -> int:
        """Drain finished seconds (all with `everything`) and write them; returns the samples written."""
        with self._flushing:
            drained = self.recorder.drain(everything=everything)
            for observer in self.observers:
                try:
                    observer(drained)
                except Exception:
                    log.exception("an invocation metrics observer failed")
            if self.store is None:
                return 0
            batch = self._unsent + to_samples(drained)
            self._unsent = []
            if not batch:
                return 0
            try:
                self.store.put_samples(batch)
            except Exception:
                log.exception("could not write %d invocation metric samples; retrying next flush", len(batch))
                if len(batch) > MAX_UNSENT:
                    log.error("dropping the %d oldest invocation metric samples", len(batch) - MAX_UNSENT)
                    batch = batch[-MAX_UNSENT:]
                self._unsent = batch
                return 0
            return len(batch)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.flush()
            except Exception:  # never let the thread die: the next second tries again
                log.exception("invocation metrics flush failed")

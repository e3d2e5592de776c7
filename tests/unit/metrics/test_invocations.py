"""Invocation metrics: latency buckets and their error bound, per-second windows, samples, the flusher."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Sequence

import pytest

from sagemill.metrics import invocations
from sagemill.metrics.invocation_flush import InvocationFlusher, to_samples
from sagemill.metrics.invocations import BucketingRecorder, Drained, EndpointRef, latency_bucket
from sagemill.store.metrics import MetricKey, Sample

REF = EndpointRef("123456789012", "us-east-1", "ep")
DIMS = (("EndpointName", "ep"), ("VariantName", "v"))
DIMS_CONFIG = (("EndpointConfigName", "cfg"), ("EndpointName", "ep"), ("VariantName", "v"))


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeStore:
    def __init__(self, failures: int = 0) -> None:
        self.samples: list[tuple[MetricKey, Sample]] = []
        self.failures = failures
        self.calls = 0

    def put_samples(self, samples: Sequence[tuple[MetricKey, Sample]]) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is locked")
        self.samples.extend(samples)


def _stats(
    samples: list[tuple[MetricKey, Sample]], name: str, dims: tuple[tuple[str, str], ...]
) -> dict[str, float]:
    mine = [s for k, s in samples if k.metric_name == name and k.dimensions == dims]
    count = sum(s.count for s in mine)
    total = sum(s.sum for s in mine)
    return {
        "SampleCount": count,
        "Sum": total,
        "Average": total / count,
        "Minimum": min(s.minimum for s in mine),
        "Maximum": max(s.maximum for s in mine),
        "samples": len(mine),
    }


def _nearest_rank(pairs: list[tuple[float, float]], p: float) -> float:
    """The p-th percentile (nearest rank) of values given as (value, count)."""
    pairs = sorted(pairs)
    total = sum(c for _, c in pairs)
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0.0
    for value, count in pairs:
        seen += count
        if seen >= rank:
            return value
    return pairs[-1][0]


def test_buckets_are_exact_up_to_1000_then_three_significant_digits() -> None:
    assert [latency_bucket(v) for v in (-3, 0, 1, 999, 1000)] == [0, 0, 1, 999, 1000]
    assert latency_bucket(1001) == 1010
    assert latency_bucket(1010) == 1010
    assert latency_bucket(9999) == 10_000
    assert latency_bucket(10_000) == 10_000
    assert latency_bucket(10_001) == 10_100
    assert latency_bucket(123_456) == 124_000
    assert latency_bucket(59_999_999) == 60_000_000


def test_every_value_is_within_half_a_percent_of_its_bucket_midrange() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(8, 3)) for _ in range(20_000)] + list(range(990, 1100))
    for us in values:
        upper = latency_bucket(us)
        if us <= 1000:
            assert upper == us
            continue
        scale = 10 ** (len(str(upper - 1)) - 3)
        assert upper - scale < us <= upper and us > 100 * scale
        # The worst a bucket can do: its other extreme at the far edge of the bucket.
        for other in (upper - scale + 1, upper):
            assert abs((us + other) / 2 - us) / us < 0.005


def test_percentiles_from_buckets_are_within_half_a_percent() -> None:
    rng = random.Random(11)
    clock = Clock()
    recorder = BucketingRecorder(clock)
    raw: list[int] = []
    for i in range(30_000):
        us = int(rng.lognormvariate(9, 1.2)) + 1
        raw.append(us)
        clock.now = 1_000 + i % 5  # five seconds of traffic
        recorder.record_invocation(REF, "v", "cfg", us, 50, 200)
    clock.now = 2_000
    samples = to_samples(recorder.drain())
    latency = [s for k, s in samples if k.metric_name == "ModelLatency" and k.dimensions == DIMS]
    assert sum(s.count for s in latency) == len(raw)
    assert sum(s.sum for s in latency) == sum(raw)  # Sum and Average stay exact
    assert min(s.minimum for s in latency) == min(raw) and max(s.maximum for s in latency) == max(raw)
    assert all(s.unit == "Microseconds" and s.minimum <= (s.value or 0) <= s.maximum for s in latency)
    exact = [(float(v), 1.0) for v in raw]
    bucketed = [(s.value or 0.0, s.count) for s in latency]
    for p in (0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 100):
        truth = _nearest_rank(exact, p)
        assert abs(_nearest_rank(bucketed, p) - truth) / truth <= 0.005, p


def test_midrange_keeps_a_lopsided_bucket_within_the_bound() -> None:
    # (1000, 1010]: one value at 1001, 99 at 1010. The mean (1009.9) would be 0.89% off 1001.
    recorder = BucketingRecorder(Clock())
    for us in [1001] + [1010] * 99:
        recorder.record_invocation(REF, "v", "cfg", us, 0, 200)
    [window] = [w for _, _, w in recorder.drain(everything=True)]
    [(count, total, low, high)] = window.model_latency.values()
    assert (count, total, low, high) == (100, 1001 + 99 * 1010, 1001, 1010)
    value = (low + high) / 2
    assert abs(value - 1001) / 1001 < 0.005 and abs(value - 1010) / 1010 < 0.005


def test_windows_are_per_second_and_only_finished_seconds_drain() -> None:
    clock = Clock(1_000.2)
    recorder = BucketingRecorder(clock)
    recorder.record_invocation(REF, "v", "cfg", 100, 10, 200)
    clock.now = 1_000.9
    recorder.record_invocation(REF, "v", "cfg", 200, 10, 200)
    clock.now = 1_001.1
    recorder.record_invocation(REF, "v", "cfg", 300, 10, 200)
    drained = recorder.drain()
    assert [(second, window.invocations) for second, _, window in drained] == [(1_000, 2)]
    assert recorder.drain() == []
    assert [(s, w.invocations) for s, _, w in recorder.drain(everything=True)] == [(1_001, 1)]
    totals = recorder.snapshot()[(REF, "v", "cfg")]
    assert (totals.invocations, totals.model_latency_us_sum) == (3, 600)  # /_sagemill/invocations


def test_both_dimension_sets_and_exact_zero_one_errors() -> None:
    clock = Clock(1_000.5)
    recorder = BucketingRecorder(clock)
    outcomes = [(200, False)] * 6 + [(404, True), (500, True), (503, True), (504, True)]
    for status, model_error in outcomes:
        recorder.record_invocation(REF, "v", "cfg", 1234, 56, status, model_error=model_error, instances=2)
    clock.now = 1_001
    samples = to_samples(recorder.drain())
    assert {k.namespace for k, _ in samples} == {"AWS/SageMaker"}
    assert {k.account_id for k, _ in samples} == {"123456789012"}
    for dims in (DIMS, DIMS_CONFIG):
        invocations = _stats(samples, "Invocations", dims)
        assert invocations == {
            "SampleCount": 10,
            "Sum": 10,
            "Average": 1,
            "Minimum": 1,
            "Maximum": 1,
            "samples": 1,
        }
        for name, errors in (
            ("Invocation4XXErrors", 1),
            ("Invocation5XXErrors", 3),
            ("InvocationModelErrors", 4),
        ):
            stats = _stats(samples, name, dims)
            assert (stats["SampleCount"], stats["Sum"], stats["Average"]) == (10, errors, errors / 10)
            assert (stats["Minimum"], stats["Maximum"], stats["samples"]) == (0, 1, 2)
        per_instance = _stats(samples, "InvocationsPerInstance", dims)
        assert (per_instance["SampleCount"], per_instance["Sum"]) == (10, 5.0)
        model = _stats(samples, "ModelLatency", dims)
        assert (model["SampleCount"], model["Sum"], model["Minimum"]) == (10, 12_340, 1234)
        assert _stats(samples, "OverheadLatency", dims)["Sum"] == 560
    assert all(s.timestamp == 1_000 for _, s in samples)


def test_error_metrics_without_errors_are_all_zero_samples() -> None:
    recorder = BucketingRecorder(Clock())
    recorder.record_invocation(REF, "v", "cfg", 10, 1, 200)
    samples = to_samples(recorder.drain(everything=True))
    errors = [s for k, s in samples if k.metric_name == "Invocation5XXErrors" and k.dimensions == DIMS]
    assert errors == [Sample(1_000, 1, 0.0, 0.0, 0.0, 0.0)]


def test_invocations_per_instance_splits_by_instance_count() -> None:
    recorder = BucketingRecorder(Clock())
    for instances in (1, 4, 4, 4, 4):
        recorder.record_invocation(REF, "v", "cfg", 10, 1, 200, instances=instances)
    samples = to_samples(recorder.drain(everything=True))
    per = sorted(
        (s.value, s.count, s.sum)
        for k, s in samples
        if k.metric_name == "InvocationsPerInstance" and k.dimensions == DIMS
    )
    assert per == [(0.25, 4, 1.0), (1.0, 1, 1.0)]  # Sum = 2: what autoscaling divides by


def test_two_configs_in_one_second_merge_under_the_shorter_dimension_set() -> None:
    recorder = BucketingRecorder(Clock())
    recorder.record_invocation(REF, "v", "old", 10, 1, 200)
    recorder.record_invocation(REF, "v", "new", 10, 1, 500)
    samples = to_samples(recorder.drain(everything=True))
    assert _stats(samples, "Invocations", DIMS)["samples"] == 1
    assert _stats(samples, "Invocations", DIMS)["Sum"] == 2
    with_config = {k.dimensions for k, _ in samples if k.metric_name == "Invocations"} - {DIMS}
    assert {dict(d)["EndpointConfigName"] for d in with_config} == {"old", "new"}


def test_undrained_seconds_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invocations, "MAX_PENDING_SECONDS", 3)
    clock = Clock()
    recorder = BucketingRecorder(clock)
    for second in range(5):
        clock.now = 1_000 + second
        recorder.record_invocation(REF, "v", "cfg", 10, 1, 200)
    assert recorder.dropped_seconds == 2
    assert [s for s, _, _ in recorder.drain(everything=True)] == [1_002, 1_003, 1_004]


def test_flush_writes_retries_after_a_failure_and_tells_observers() -> None:
    clock = Clock()
    recorder = BucketingRecorder(clock)
    store = FakeStore(failures=1)
    seen: list[Drained] = []
    flusher = InvocationFlusher(recorder, store, observers=[seen.append])
    recorder.record_invocation(REF, "v", "cfg", 10, 1, 200)
    clock.now = 1_001
    assert flusher.flush() == 0 and store.samples == []  # the store failed: kept for the next flush
    recorder.record_invocation(REF, "v", "cfg", 10, 1, 200)
    clock.now = 1_002
    written = flusher.flush()
    assert written == len(store.samples) > 0
    assert sorted({s.timestamp for _, s in store.samples}) == [1_000, 1_001]
    assert [len(d) for d in seen] == [1, 1]


def test_stop_writes_the_current_second_too() -> None:
    recorder = BucketingRecorder(Clock())
    store = FakeStore()
    flusher = InvocationFlusher(recorder, store, interval=60)
    flusher.start()
    recorder.record_invocation(REF, "v", "cfg", 10, 1, 200)
    flusher.stop()
    assert _stats(store.samples, "Invocations", DIMS)["Sum"] == 1


def test_the_thread_flushes_every_interval() -> None:
    recorder = BucketingRecorder()
    store = FakeStore()
    flusher = InvocationFlusher(recorder, store, interval=0.05)
    flusher.start()
    try:
        recorder.record_invocation(REF, "v", "cfg", 10, 1, 200)
        deadline = time.monotonic() + 5
        while not store.samples and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.samples, "the flusher thread wrote nothing within 5 s"
        assert any(t.name == "invocation-metrics" and t.daemon for t in threading.enumerate())
    finally:
        flusher.stop()


def test_recording_is_cheap() -> None:
    recorder = BucketingRecorder()
    calls = 20_000
    started = time.perf_counter()
    for i in range(calls):
        recorder.record_invocation(REF, "v", "cfg", 1000 + i % 5000, 150 + i % 300, 200, instances=2)
    per_call_us = (time.perf_counter() - started) / calls * 1e6
    assert per_call_us < 50, per_call_us  # generous for slow CI; measured ~2 µs on a laptop-class core

"""read_statistics: extended statistics decided from a period's extremes or read from its samples agree
with computing them over each period's samples one by one."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemill.domain.statistics import parse_extended_statistic
from sagemill.metrics.query import read_statistics
from sagemill.store.metrics import MetricKey, MetricStore, Sample
from sagemill.store.sql.metrics import SqlMetricStore
from sagemill.store.sql.migrate import upgrade
from sagemill.store.sql.repositories import SqlStore

T0 = 1_767_225_600
SPAN = 1_800
STATISTICS = ["p0", "p1", "p50", "p90", "p99", "p99.9", "p100", "tm90", "IQM"]


def key(name: str) -> MetricKey:
    return MetricKey("123456789012", "us-east-1", "Test", "Latency", (("Host", name),))


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricStore]:
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('query') / 'metrics.db'}")
    upgrade(store.engine)
    metrics = SqlMetricStore(store.engine, write_lock=store.write_lock)
    rng = random.Random(5)
    samples = []
    for t in range(T0, T0 + SPAN):
        v = round(rng.lognormvariate(3, 1), 1)  # rounded: ties happen
        samples.append((key("singles"), Sample(t, 1.0, v, v, v, v)))
        if t % 3 == 0:  # several single values in one second
            samples.append((key("singles"), Sample(t, 1.0, v + 1, v + 1, v + 1, v + 1)))
        # Values with Counts, now and then a statistic set (no known value), and a sparse metric.
        count = float(rng.randint(1, 4))
        samples.append((key("mixed"), Sample(t, count, v * count, v, v, v)))
        if t % 7 == 0:
            samples.append((key("mixed"), Sample(t, 5.0, 50.0, 1.0, 30.0, None)))
        if t % 97 == 0:
            samples.append((key("sparse"), Sample(t, 1.0, v, v, v, v, "Seconds")))
    metrics.put_samples(samples)
    yield metrics
    store.close()


def one_by_one(
    metrics: MetricStore, k: MetricKey, start: int, end: int, period: int
) -> dict[int, dict[str, float]]:
    """Each period's extended statistics over its samples, read period by period."""
    out = {}
    for at in range(start, end, period):
        rows = metrics.percentile_values(k, at, min(at + period, end))
        samples = [(value, weight) for _, value, weight in rows]
        computed = {}
        for text in STATISTICS:
            result = parse_extended_statistic(text).compute(samples)
            if result is not None:
                computed[text] = result
        out[at] = computed
    return out


@pytest.mark.parametrize("name", ["singles", "mixed", "sparse"])
@pytest.mark.parametrize(
    ("start", "period"), [(T0, 60), (T0 + 13, 7), (T0, 1), (T0 - 60, 600), (T0 + 5, 5_000)]
)
def test_extended_statistics_equal_those_computed_period_by_period(
    metrics: MetricStore, name: str, start: int, period: int
) -> None:
    end = T0 + SPAN - 11
    k = key(name)
    expected = one_by_one(metrics, k, start, end, period)
    aggregates = metrics.aggregate([k], start, end, period)[k]
    rows = read_statistics(metrics, [k], start, end, period, STATISTICS)[k]
    assert [(r.start, r.count, r.unit) for r in rows] == [(a.start, a.count, a.unit) for a in aggregates]
    for row in rows:
        assert row.values == expected[row.start], row.start
    # With a basic statistic beside them, the extended ones read the samples: the same answers.
    mixed = read_statistics(metrics, [k], start, end, period, ["SampleCount", *STATISTICS])[k]
    assert [r.values for r in mixed] == [{"SampleCount": r.count, **r.values} for r in rows]


def test_many_keys_in_one_read_and_a_unit(metrics: MetricStore) -> None:
    keys = [key("singles"), key("mixed"), key("sparse"), key("absent")]
    rows = read_statistics(metrics, keys, T0, T0 + SPAN, 300, ["p99", "p50"])
    for k in keys[:3]:
        expected = one_by_one(metrics, k, T0, T0 + SPAN, 300)
        assert [r.values for r in rows[k]] == [
            {s: v for s, v in expected[r.start].items() if s in ("p99", "p50")} for r in rows[k]
        ]
    assert rows[key("absent")] == []
    seconds = read_statistics(metrics, keys, T0, T0 + SPAN, 300, ["p99"], "Seconds")
    assert [r.unit for r in seconds[key("sparse")]] == ["Seconds"] * len(seconds[key("sparse")])
    assert seconds[key("singles")] == [] and seconds[key("mixed")] == []


def test_a_period_of_statistic_sets_has_no_extended_statistic(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'sets.db'}")
    upgrade(store.engine)
    metrics = SqlMetricStore(store.engine, write_lock=store.write_lock)
    metrics.put_samples([(key("sets"), Sample(T0, 1.0, 3.0, 3.0, 3.0, None))])
    [row] = read_statistics(metrics, [key("sets")], T0, T0 + 60, 60, ["p99"])[key("sets")]
    assert (row.count, row.values) == (1.0, {})
    store.close()

"""Statistics per period over stored samples: what GetMetricStatistics, GetMetricData and alarms read."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sagemill.domain.statistics import (
    BASIC_STATISTICS,
    ExtendedStatistic,
    Summary,
    basic_statistic,
    parse_extended_statistic,
)
from sagemill.store.metrics import MetricKey, MetricStore


@dataclass(frozen=True, slots=True)
class PeriodStatistics:
    """The statistics of one metric over one period [start, start + period)."""

    start: int
    summary: Summary
    unit: str
    values: dict[str, float] = field(default_factory=dict)
    """Requested statistic name (basic or extended, as written) → value; an extended one is absent
    when no sample of the period has a known value."""


def is_basic(statistic: str) -> bool:
    return statistic in BASIC_STATISTICS


def read_statistics(
    store: MetricStore,
    keys: Sequence[MetricKey],
    start: int,
    end: int,
    period: int,
    statistics: Sequence[str],
    unit: str | None = None,
) -> dict[MetricKey, list[PeriodStatistics]]:
    """Per key, the periods holding samples in [start, end), oldest first, with the asked statistics."""
    extended = [parse_extended_statistic(s) for s in statistics if not is_basic(s)]
    basic = [s for s in statistics if is_basic(s)]
    aggregates = store.aggregate(keys, start, end, period, unit)
    result: dict[MetricKey, list[PeriodStatistics]] = {}
    for key in keys:
        rows = aggregates.get(key) or []
        by_start = (
            _extended_values(store, key, start, end, period, extended, unit) if extended and rows else {}
        )
        periods = []
        for row in rows:
            summary = Summary(row.count, row.sum, row.minimum, row.maximum)
            values = {name: basic_statistic(name, summary) for name in basic}
            values.update(by_start.get(row.start, {}))
            periods.append(PeriodStatistics(row.start, summary, row.unit, values))
        result[key] = periods
    return result


def _extended_values(
    store: MetricStore,
    key: MetricKey,
    start: int,
    end: int,
    period: int,
    extended: Sequence[ExtendedStatistic],
    unit: str | None,
) -> Mapping[int, dict[str, float]]:
    buckets: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for timestamp, value, count in store.percentile_values(key, start, end, unit):
        buckets[start + (timestamp - start) // period * period].append((value, count))
    out: dict[int, dict[str, float]] = {}
    for bucket, values in buckets.items():
        computed = {}
        for statistic in extended:
            result = statistic.compute(values)
            if result is not None:
                computed[statistic.text] = result
        out[bucket] = computed
    return out

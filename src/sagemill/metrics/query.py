"""Statistics per period over stored samples: what GetMetricStatistics, GetMetricData and alarms read.

Basic statistics come from one aggregate per period. Extended ones need the samples themselves, which
is what costs: a day of per-second data is 86,400 rows. So a read of extended statistics alone asks
first what each period's extremes say (`MetricStore.value_ranges`, as cheap as the aggregate), and
reads the samples only of the periods that leaves undecided: p99 over a minute of single values is
its maximum, and p50 is never decided that way.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from sagemill.domain.statistics import (
    BASIC_STATISTICS,
    ExtendedStatistic,
    Summary,
    basic_statistic,
    parse_extended_statistic,
)
from sagemill.store.metrics import MetricKey, MetricStore

_TIMESTAMP = itemgetter(0)
_VALUE_AND_WEIGHT = itemgetter(1, 2)


@dataclass(frozen=True, slots=True)
class PeriodStatistics:
    """The statistics of one metric over one period [start, start + period)."""

    start: int
    count: float
    """How many observations the period holds (its SampleCount)."""
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
    if extended and not basic:
        return _extended_only(store, keys, start, end, period, extended, unit)
    aggregates = store.aggregate(keys, start, end, period, unit)
    result: dict[MetricKey, list[PeriodStatistics]] = {}
    for key in keys:
        rows = aggregates.get(key) or []
        wanted = {row.start: extended for row in rows} if extended else {}
        by_start = _from_samples(store, key, end, period, wanted, unit)
        periods = []
        for row in rows:
            summary = Summary(row.count, row.sum, row.minimum, row.maximum)
            values = {name: basic_statistic(name, summary) for name in basic}
            values.update(by_start.get(row.start, {}))
            periods.append(PeriodStatistics(row.start, row.count, row.unit, values))
        result[key] = periods
    return result


def _extended_only(
    store: MetricStore,
    keys: Sequence[MetricKey],
    start: int,
    end: int,
    period: int,
    extended: Sequence[ExtendedStatistic],
    unit: str | None,
) -> dict[MetricKey, list[PeriodStatistics]]:
    ranges = store.value_ranges(keys, start, end, period, unit)
    result: dict[MetricKey, list[PeriodStatistics]] = {}
    for key in keys:
        periods = []
        undecided: dict[int, list[ExtendedStatistic]] = {}
        for spread in ranges.get(key) or []:
            values: dict[str, float] = {}
            if spread.lowest is not None and spread.highest is not None:
                for statistic in extended:
                    decided = (
                        statistic.from_extremes(int(spread.count), spread.lowest, spread.highest)
                        if spread.singles
                        else None
                    )
                    if decided is None:
                        undecided.setdefault(spread.start, []).append(statistic)
                    else:
                        values[statistic.text] = decided
            periods.append(PeriodStatistics(spread.start, spread.count, spread.unit, values))
        if undecided:
            by_start = _from_samples(store, key, end, period, undecided, unit)
            for row in periods:
                row.values.update(by_start.get(row.start, {}))
        result[key] = periods
    return result


def _from_samples(
    store: MetricStore,
    key: MetricKey,
    end: int,
    period: int,
    wanted: Mapping[int, Sequence[ExtendedStatistic]],
    unit: str | None,
) -> Mapping[int, dict[str, float]]:
    """The `wanted` statistics of each period (by start) computed from its samples, in one read."""
    if not wanted:
        return {}
    rows = store.percentile_values(key, min(wanted), min(end, max(wanted) + period), unit)
    if not rows:
        return {}
    # Bisected and sliced rather than looped over in Python: the rows come sorted by timestamp. (Not
    # zip(*rows): its iterator per row is a GC-tracked object, and 86,400 of them living through the
    # young collections set off a full collection of the process's heap, 30 ms and more.)
    stamps = list(map(_TIMESTAMP, rows))
    out: dict[int, dict[str, float]] = {}
    for at, statistics in wanted.items():
        first = bisect_left(stamps, at)
        last = bisect_left(stamps, at + period, first)
        if first == last:
            continue
        samples = list(map(_VALUE_AND_WEIGHT, rows[first:last]))
        computed = {}
        for statistic in statistics:
            result = statistic.compute(samples)
            if result is not None:
                computed[statistic.text] = result
        out[at] = computed
    return out

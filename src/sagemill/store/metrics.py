"""The MetricStore port: CloudWatch metric data points and alarm history, scoped by (account, region).

Contract, for every adapter:
- Each method is one transaction: it commits before returning, or changes nothing and raises.
- Methods are thread-safe; request threads, the data plane's flusher and reconcilers share one store.
- A metric is identified by `MetricKey`: account, region, namespace, metric name and its dimensions
  (a tuple of (name, value) pairs sorted by name; names are unique within a key). Names compare by
  code point and are case-sensitive.
- Times are integer seconds since the epoch (1-second resolution, as CloudWatch's high-resolution
  metrics); a `Sample` stands for `count` observations at one second: their exact sum, minimum and
  maximum, and `value`, the value percentiles use for them all (None when the sample is a statistic
  set whose observations are unknown: it then counts for SampleCount/Sum/Average/Minimum/Maximum only).
- `unit` is stored per sample ("None" when the caller gave none). A read with `unit=None` reads every
  unit; with a unit, only samples of that unit.
- Reads take a half-open range [start, end) of seconds and never apply retention themselves;
  `purge_before` deletes what retention no longer keeps.
- Alarm history items are kept after their alarm is deleted; `append_history` ignores an item whose
  `item_id` is already stored (callers retry after a crash without duplicating history).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MetricKey:
    """The identity of one metric (one time series)."""

    account_id: str
    region: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Sample:
    """`count` observations at second `timestamp`; see the module docstring."""

    timestamp: int
    count: float
    sum: float
    minimum: float
    maximum: float
    value: float | None
    unit: str = "None"


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Every sample of one metric within one period, combined; `start` is the period's first second."""

    start: int
    count: float
    sum: float
    minimum: float
    maximum: float
    unit: str


@dataclass(frozen=True, slots=True)
class ValueRange:
    """What one period's samples tell percentiles without being read one by one; `start`, `count` and
    `unit` as in Aggregate."""

    start: int
    count: float
    unit: str
    singles: bool
    """Every sample of the period has a known value and stands for one observation (count 1)."""
    lowest: float | None
    """The least known value; None when no sample of the period has one."""
    highest: float | None
    """The greatest known value; None when no sample of the period has one."""


@dataclass(frozen=True, slots=True)
class MetricFilter:
    """ListMetrics: every given field must match; a dimension filter with value None matches any value."""

    account_id: str
    region: str
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: tuple[tuple[str, str | None], ...] = ()
    active_since: int | None = None
    """Only metrics with a sample stored at or after this second (RecentlyActive)."""


@dataclass(frozen=True, slots=True)
class AlarmHistoryItem:
    """One DescribeAlarmHistory item; `data` is the HistoryData JSON text."""

    item_id: str
    account_id: str
    region: str
    alarm_name: str
    alarm_type: str
    timestamp: float
    item_type: str
    summary: str
    data: str


@dataclass(frozen=True, slots=True)
class AlarmHistoryQuery:
    account_id: str
    region: str
    alarm_name: str | None = None
    alarm_types: tuple[str, ...] = ()
    item_type: str | None = None
    start: float | None = None
    """Inclusive."""
    end: float | None = None
    """Inclusive."""
    newest_first: bool = True
    after: tuple[float, str] | None = None
    """(timestamp, item_id) of the last item of the previous page."""
    limit: int = 100


class MetricStore(Protocol):
    """Durable metric data and alarm history; see the module docstring for the contract."""

    def put_samples(self, samples: Sequence[tuple[MetricKey, Sample]]) -> None:
        """Store every sample in one transaction (new metrics are created as needed)."""
        ...

    def aggregate(
        self, keys: Sequence[MetricKey], start: int, end: int, period: int, unit: str | None = None
    ) -> Mapping[MetricKey, list[Aggregate]]:
        """Per key, one Aggregate per period that holds samples, ordered by start.

        Periods are [start + k*period, start + (k+1)*period) within [start, end). Keys without
        samples in the range map to an empty list (or are absent). With `unit=None` samples of every
        unit combine and the Aggregate's unit is that of one of them.
        """
        ...

    def value_ranges(
        self, keys: Sequence[MetricKey], start: int, end: int, period: int, unit: str | None = None
    ) -> Mapping[MetricKey, list[ValueRange]]:
        """Per key, one ValueRange per period that holds samples, ordered by start; periods and units as
        in `aggregate`. As cheap as `aggregate`: a percentile whose nearest rank is a period's first or
        last sample (p99 of fewer than 100 single values) needs no `percentile_values` then.
        """
        ...

    def percentile_values(
        self, key: MetricKey, start: int, end: int, unit: str | None = None
    ) -> list[tuple[int, float, float]]:
        """(timestamp, value, count) of every sample with a known value in [start, end), by timestamp."""
        ...

    def list_metrics(
        self, query: MetricFilter, after: MetricKey | None, limit: int
    ) -> tuple[list[MetricKey], bool]:
        """One page of metric identities ordered by (namespace, name, dimensions), and whether more follow."""
        ...

    def purge_before(self, timestamp: int) -> int:
        """Delete samples older than `timestamp` (and metrics left empty); returns samples deleted."""
        ...

    def append_history(self, items: Sequence[AlarmHistoryItem]) -> None: ...

    def list_history(self, query: AlarmHistoryQuery) -> tuple[list[AlarmHistoryItem], bool]: ...

    def purge_history_before(self, timestamp: float) -> int: ...

"""SqlMetricStore: the MetricStore port over SQLAlchemy Core, sharing the SQL store's engine."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, bindparam, delete, exists, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from sagemill.store.metrics import (
    Aggregate,
    AlarmHistoryItem,
    AlarmHistoryQuery,
    MetricFilter,
    MetricKey,
    Sample,
    ValueRange,
)
from sagemill.store.sql import alarm_history as history_sql
from sagemill.store.sql.metric_statements import (
    ADD_DIMENSIONS,
    AGGREGATES,
    BY_PERIOD,
    GROUPED,
    INSERT_SAMPLES,
    PERCENTILE_VALUES,
    PERIODS_MAX,
    UPSERT_SERIES,
    VALUE_RANGES,
    ensure_periods,
)
from sagemill.store.sql.tables import metric_dimensions, metric_samples, metric_series

_s, _d, _m = metric_series.c, metric_dimensions.c, metric_samples.c
_T = TypeVar("_T")

# Keys per IN list: far below SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 500
# Series ids remembered; past this the cache starts afresh rather than grow without bound.
_CACHE_LIMIT = 200_000
# A put retried after a cached series id went stale (a purge in this or another process).
_PUT_ATTEMPTS = 3


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for at in range(0, len(items), _CHUNK):
        yield items[at : at + _CHUNK]


def dimensions_key(dimensions: Sequence[tuple[str, str]]) -> str:
    """The canonical JSON of a key's (sorted) dimension pairs, as stored in metric_series."""
    return json.dumps([list(pair) for pair in dimensions], ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=65_536)
def _key_hash(key: MetricKey) -> str:
    """The digest of a key's whole identity: metric_series' unique key."""
    identity = [key.account_id, key.region, key.namespace, key.metric_name, key.dimensions]
    encoded = json.dumps(identity, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def _to_key(row: Row[*tuple[Any, ...]]) -> MetricKey:
    pairs = tuple((str(name), str(value)) for name, value in json.loads(row.dimensions_key))
    return MetricKey(row.account_id, row.region, row.namespace, row.metric_name, pairs)


class SqlMetricStore:
    """The MetricStore port on SQLite or PostgreSQL; see store/metrics.py for the contract."""

    def __init__(self, engine: Engine, write_lock: AbstractContextManager[Any] | None = None) -> None:
        """`write_lock` should be the one the engine's other writers hold (SqlStore's, on SQLite)."""
        self.engine = engine
        # SQLite has one writer: queueing on an in-process lock beats SQLite's sleeping busy handler.
        if write_lock is None and engine.dialect.name == "sqlite":
            write_lock = threading.Lock()
        self._write_lock = write_lock
        # MetricKey → (series id, its last_sample_at when last written): a put whose samples are
        # no newer touches no series row; the others upsert theirs in one statement per batch.
        self._series: dict[MetricKey, tuple[int, int]] = {}
        self._cache_lock = threading.Lock()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._write_lock or nullcontext(), self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        """The engine belongs to whoever made it; nothing to release here."""

    # series identities

    def _cached(self, keys: Collection[MetricKey]) -> dict[MetricKey, tuple[int, int]]:
        with self._cache_lock:
            return {k: self._series[k] for k in keys if k in self._series}

    def _remember(self, found: Mapping[MetricKey, tuple[int, int]]) -> None:
        with self._cache_lock:
            if len(self._series) + len(found) > _CACHE_LIMIT:
                self._series.clear()
            for key, (series_id, newest) in found.items():
                known = self._series.get(key)
                if known is None or known[0] != series_id or known[1] < newest:
                    self._series[key] = (series_id, newest)

    def _forget(self, keys: Collection[MetricKey] | None = None) -> None:
        with self._cache_lock:
            if keys is None:
                self._series.clear()
            for key in keys or ():
                self._series.pop(key, None)

    def _resolve(
        self, conn: Connection, newest: Mapping[MetricKey, int], cached: bool
    ) -> dict[MetricKey, tuple[int, int]]:
        """(id, last_sample_at) of each key's series, created or brought up to date as needed."""
        known = self._cached(newest.keys()) if cached else {}
        # A cached series whose last_sample_at already covers the batch needs no statement at all.
        found = {k: (i, last) for k, (i, last) in known.items() if newest[k] <= last}
        pending = {_key_hash(k): k for k in newest if k not in found}
        for chunk in _chunks(sorted(pending)):
            rows = [
                {
                    "key_hash": h,
                    "account_id": pending[h].account_id,
                    "region": pending[h].region,
                    "namespace": pending[h].namespace,
                    "metric_name": pending[h].metric_name,
                    "dimensions_key": dimensions_key(pending[h].dimensions),
                    "last_sample_at": newest[pending[h]],
                }
                for h in chunk
            ]
            dimension_rows = []
            for key_hash, series_id, last in conn.execute(UPSERT_SERIES[conn.dialect.name], rows):
                key = pending[key_hash]
                found[key] = (int(series_id), int(last))
                if key not in known or known[key][0] != series_id:
                    # Perhaps a new series (ids are never reused): its dimensions, unless already there.
                    dimension_rows += [
                        {"series_id": series_id, "name": n, "value": v} for n, v in key.dimensions
                    ]
            if dimension_rows:
                conn.execute(ADD_DIMENSIONS[conn.dialect.name], dimension_rows)
        return found

    # samples

    def put_samples(self, samples: Sequence[tuple[MetricKey, Sample]]) -> None:
        if not samples:
            return
        newest: dict[MetricKey, int] = {}
        for key, sample in samples:
            if newest.get(key, sample.timestamp - 1) < sample.timestamp:
                newest[key] = sample.timestamp
        for attempt in range(_PUT_ATTEMPTS):
            try:
                with self._begin() as conn:
                    # Retries skip the cache: another thread may have put a stale id back meanwhile.
                    series = self._resolve(conn, newest, cached=attempt == 0)
                    self._insert(conn, samples, series)
            except IntegrityError:
                # A cached series was purged (by this or another process): the next try upserts it.
                self._forget(newest.keys())
                if attempt + 1 == _PUT_ATTEMPTS:
                    raise
                continue
            self._remember(series)
            return

    @staticmethod
    def _insert(
        conn: Connection,
        samples: Sequence[tuple[MetricKey, Sample]],
        series: Mapping[MetricKey, tuple[int, int]],
    ) -> None:
        # `seq` only separates samples of one second: a random base plus the position in the batch
        # is unique within the batch, and colliding with another batch's is a 2**-62 chance.
        base = random.getrandbits(62)
        rows = [
            {
                "series_id": series[key][0],
                "ts": s.timestamp,
                "seq": base + position,
                "unit": s.unit,
                "count": s.count,
                "sum": s.sum,
                "minimum": s.minimum,
                "maximum": s.maximum,
                "value": s.value,
            }
            for position, (key, s) in enumerate(samples)
        ]
        conn.execute(INSERT_SAMPLES, rows)

    def aggregate(
        self, keys: Sequence[MetricKey], start: int, end: int, period: int, unit: str | None = None
    ) -> Mapping[MetricKey, list[Aggregate]]:
        result: dict[MetricKey, list[Aggregate]] = {key: [] for key in keys}
        for found, at, (count, total, low, high, row_unit) in self._per_period(
            AGGREGATES, keys, start, end, period, unit
        ):
            aggregate = Aggregate(at, float(count), float(total), float(low), float(high), str(row_unit))
            for key in found:
                result[key].append(aggregate)
        return result

    def value_ranges(
        self, keys: Sequence[MetricKey], start: int, end: int, period: int, unit: str | None = None
    ) -> Mapping[MetricKey, list[ValueRange]]:
        result: dict[MetricKey, list[ValueRange]] = {key: [] for key in keys}
        for found, at, (count, row_unit, others, low, high) in self._per_period(
            VALUE_RANGES, keys, start, end, period, unit
        ):
            lowest = float(low) if low is not None else None
            highest = float(high) if high is not None else None
            spread = ValueRange(at, float(count), str(row_unit), int(others) == 0, lowest, highest)
            for key in found:
                result[key].append(spread)
        return result

    def _per_period(
        self, kind: str, keys: Sequence[MetricKey], start: int, end: int, period: int, unit: str | None
    ) -> Iterator[tuple[list[MetricKey], int, Sequence[Any]]]:
        """(the keys, the period's start, the kind's columns) of each period holding samples, by key."""
        if not keys or end <= start:
            return
        if period <= 0:
            raise ValueError(f"period must be positive, not {period}")
        keys_of: dict[str, list[MetricKey]] = {}
        for key in dict.fromkeys(keys):
            keys_of.setdefault(_key_hash(key), []).append(key)
        periods = -(-(end - start) // period)
        params: dict[str, Any] = {"start": start, "end": end, "period": period, "n": periods, "unit": unit}
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite" and periods <= PERIODS_MAX:
                ensure_periods(conn)
                statement: Any = BY_PERIOD[(kind, unit is not None)]
            else:
                statement = GROUPED[kind]
                if unit is not None:
                    statement = statement.where(_m.unit == bindparam("unit"))
            for chunk in _chunks(sorted(keys_of)):
                for key_hash, k, *columns in conn.execute(statement, {**params, "hashes": list(chunk)}):
                    yield keys_of[key_hash], start + int(k) * period, columns

    def percentile_values(
        self, key: MetricKey, start: int, end: int, unit: str | None = None
    ) -> list[tuple[int, float, float]]:
        if end <= start:
            return []
        params = {"key_hash": _key_hash(key), "start": start, "end": end, "unit": unit}
        with self.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(PERCENTILE_VALUES[(conn.dialect.name, unit is not None)], params)
                # Both drivers hand back ints for BIGINT and floats for DOUBLE: the rows are the answer.
                rows = cast("list[tuple[int, float, float]]", cursor.fetchall())
            finally:
                cursor.close()
        return rows

    def list_metrics(
        self, query: MetricFilter, after: MetricKey | None, limit: int
    ) -> tuple[list[MetricKey], bool]:
        conditions: list[ColumnElement[bool]] = [_s.account_id == query.account_id, _s.region == query.region]
        if query.namespace is not None:
            conditions.append(_s.namespace == query.namespace)
        if query.metric_name is not None:
            conditions.append(_s.metric_name == query.metric_name)
        if query.active_since is not None:
            conditions.append(_s.last_sample_at >= query.active_since)
        for name, value in query.dimensions:
            match = [_d.series_id == _s.id, _d.name == name]
            if value is not None:
                match.append(_d.value == value)
            conditions.append(exists().where(*match))
        if after is not None:
            position = (after.namespace, after.metric_name, dimensions_key(after.dimensions))
            conditions.append(tuple_(_s.namespace, _s.metric_name, _s.dimensions_key) > tuple_(*position))
        statement = (
            select(_s.account_id, _s.region, _s.namespace, _s.metric_name, _s.dimensions_key)
            .where(*conditions)
            .order_by(_s.namespace, _s.metric_name, _s.dimensions_key)
            .limit(limit + 1)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        return [_to_key(r) for r in rows[:limit]], len(rows) > limit

    def purge_before(self, timestamp: int) -> int:
        expired = delete(metric_samples).where(
            # Through the series: one primary-key range per series instead of a scan of every sample.
            _m.series_id.in_(select(_s.id)),
            _m.ts < timestamp,
        )
        # Series left without samples, but on PostgreSQL only those no writer holds (a writer that
        # upserted a series or is storing samples in it locks its row): the purge never waits for a
        # writer, so the two cannot deadlock, and what it skips goes at the next purge.
        candidate = metric_series.alias("candidate")
        emptied = delete(metric_series).where(
            _s.id.in_(
                select(candidate.c.id)
                .where(
                    candidate.c.last_sample_at < timestamp,
                    ~exists().where(_m.series_id == candidate.c.id),
                )
                .with_for_update(skip_locked=True)
            )
        )
        try:
            with self._begin() as conn:
                deleted = conn.execute(expired).rowcount
                if conn.dialect.name != "postgresql":
                    conn.execute(emptied)  # their dimensions go by ON DELETE CASCADE
                else:
                    try:
                        with conn.begin_nested():
                            conn.execute(emptied)
                    except IntegrityError:
                        pass  # a writer committed an old sample in one since: left for next time
        finally:
            self._forget()
        return int(deleted)

    # alarm history

    def append_history(self, items: Sequence[AlarmHistoryItem]) -> None:
        if items:
            with self._begin() as conn:
                history_sql.append(conn, items)

    def list_history(self, query: AlarmHistoryQuery) -> tuple[list[AlarmHistoryItem], bool]:
        with self.engine.connect() as conn:
            return history_sql.page(conn, query)

    def purge_history_before(self, timestamp: float) -> int:
        with self._begin() as conn:
            return history_sql.purge(conn, timestamp)

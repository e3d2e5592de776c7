"""The metric store's SQL statements, built once for SQLite and PostgreSQL so hot paths reuse them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from sagemill.store.sql.tables import metric_dimensions, metric_samples, metric_series

_s, _m = metric_series.c, metric_samples.c

# Built once: the hot paths then reuse SQLAlchemy's compiled forms.
INSERT_SAMPLES = insert(metric_samples)


def _upsert_series(dialect: Any) -> Any:
    """INSERT a series, or raise the stored one's last_sample_at; either way RETURNING its id.

    One statement per batch, keys sorted by hash: every row lock a writer takes on metric_series
    is taken in that one order, so PostgreSQL writers never deadlock; and the row comes back even
    when another writer created it first or a purge deleted it meanwhile.
    """
    statement = dialect.insert(metric_series)
    newer = statement.excluded.last_sample_at
    return statement.on_conflict_do_update(
        index_elements=[_s.key_hash],
        set_={"last_sample_at": case((newer > _s.last_sample_at, newer), else_=_s.last_sample_at)},
    ).returning(_s.key_hash, _s.id, _s.last_sample_at)


UPSERT_SERIES = {"sqlite": _upsert_series(sqlite), "postgresql": _upsert_series(postgresql)}
ADD_DIMENSIONS = {
    "sqlite": sqlite.insert(metric_dimensions).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(metric_dimensions).on_conflict_do_nothing(),
}
_START = bindparam("start", type_=BigInteger)
_IN_RANGE = [_m.ts >= _START, _m.ts < bindparam("end", type_=BigInteger)]
# Reads find series by key hash in the statement itself: no cached id can send them astray.
_SAMPLES_OF = metric_samples.join(metric_series, _s.id == _m.series_id)
# Integer division on both backends (ts - start >= 0, so truncation is the floor).
_BUCKET = ((_m.ts - _START) // bindparam("period", type_=BigInteger)).label("bucket")
# Grouped by the output's name: PostgreSQL would not match a repeated expression holding parameters.
_GROUPS: tuple[Any, ...] = (_s.key_hash, literal_column("bucket"))
# What each kind of per-period read computes: the basic statistics' summary (`aggregate`), or what
# percentiles can take from a period without reading its samples (`value_ranges`). Both are one
# pass over the samples; FILTER costs about what one more column does.
AGGREGATES = "aggregates"
VALUE_RANGES = "value ranges"
_COLUMNS: dict[str, tuple[Any, ...]] = {
    AGGREGATES: (
        func.sum(_m.count),
        func.sum(_m.sum),
        func.min(_m.minimum),
        func.max(_m.maximum),
        func.max(_m.unit),
    ),
    VALUE_RANGES: (
        func.sum(_m.count),
        func.max(_m.unit),
        func.count().filter(or_(_m.count != 1, _m.value.is_(None))),  # samples that are not singles
        func.min(_m.value),
        func.max(_m.value),
    ),
}
GROUPED = {
    kind: select(_s.key_hash, _BUCKET, *columns)
    .select_from(_SAMPLES_OF)
    .where(_s.key_hash.in_(bindparam("hashes", expanding=True)), *_IN_RANGE)
    .group_by(*_GROUPS)
    .order_by(*_GROUPS)
    for kind, columns in _COLUMNS.items()
}

# SQLite can only GROUP BY an expression through a sort, which costs more than reading the rows.
# Joined to a table of period numbers instead, each period is one primary-key range of samples and
# the groups arrive in order: no sort. The numbers live in a TEMP table of each connection.
PERIODS_MAX = 10_080  # a week of minutes; more periods than this group with a sort
_PERIODS_READY = "sagemill.metric_periods"
_PERIODS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS metric_periods (k INTEGER PRIMARY KEY)",
    "INSERT OR IGNORE INTO metric_periods (k) WITH RECURSIVE n(k) AS "
    f"(SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < {PERIODS_MAX}) SELECT k FROM n",
)
_BY_PERIOD_SQL = """\
SELECT ser.key_hash, p.k, {columns}
FROM metric_series AS ser CROSS JOIN metric_periods AS p CROSS JOIN metric_samples AS m
WHERE ser.key_hash IN :hashes AND p.k < :n AND m.series_id = ser.id
  AND m.ts >= :start + p.k * :period AND m.ts < :start + (p.k + 1) * :period AND m.ts < :end {unit}
GROUP BY ser.key_hash, p.k"""
_BY_PERIOD_COLUMNS = {
    AGGREGATES: "sum(m.count), sum(m.sum), min(m.minimum), max(m.maximum), max(m.unit)",
    VALUE_RANGES: "sum(m.count), max(m.unit), count(*) FILTER (WHERE m.count <> 1 OR m.value IS NULL),"
    " min(m.value), max(m.value)",
}
BY_PERIOD = {
    (kind, with_unit): text(
        _BY_PERIOD_SQL.format(columns=columns, unit="AND m.unit = :unit" if with_unit else "")
    ).bindparams(bindparam("hashes", expanding=True))
    for kind, columns in _BY_PERIOD_COLUMNS.items()
    for with_unit in (False, True)
}
# Read through the driver's own cursor: a day of per-second samples is 86,400 rows, and SQLAlchemy's
# result rows and type processing cost more than the driver's fetch (the types need no processing).
_PERCENTILE_SQL = """\
SELECT m.ts, m.value, m.count FROM metric_samples AS m JOIN metric_series AS ser ON ser.id = m.series_id
WHERE ser.key_hash = {key_hash} AND m.ts >= {start} AND m.ts < {end} AND m.value IS NOT NULL{unit}
ORDER BY m.ts, m.seq"""
PERCENTILE_VALUES = {
    (dialect, with_unit): _PERCENTILE_SQL.format(
        **{name: marker.format(name) for name in ("key_hash", "start", "end")},
        unit=f" AND m.unit = {marker.format('unit')}" if with_unit else "",
    )
    for dialect, marker in (("sqlite", ":{}"), ("postgresql", "%({})s"))
    for with_unit in (False, True)
}


def ensure_periods(conn: Connection) -> None:
    """Create this SQLite connection's period numbers once (the flag lives as long as the connection)."""
    info = conn.connection.info
    if info.get(_PERIODS_READY):
        return
    for statement in _PERIODS_DDL:
        conn.exec_driver_sql(statement)
    conn.commit()  # else the pool's rollback on release would empty the table again
    info[_PERIODS_READY] = True

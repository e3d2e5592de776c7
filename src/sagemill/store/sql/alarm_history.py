"""SQL for alarm history: idempotent appends, filtered pages in time order, retention purges.

Each function runs inside the caller's connection or transaction; SqlMetricStore owns the transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from sagemill.store.metrics import AlarmHistoryItem, AlarmHistoryQuery
from sagemill.store.sql.tables import alarm_history

_h = alarm_history.c
# DO NOTHING on a known item_id: a caller retrying after a crash stores nothing twice.
_APPEND = {
    "sqlite": sqlite.insert(alarm_history).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(alarm_history).on_conflict_do_nothing(),
}
_COLUMNS = (_h.item_id, _h.account_id, _h.region, _h.alarm_name, _h.alarm_type, _h.ts.label("timestamp"))
_READ = select(*_COLUMNS, _h.item_type, _h.summary, _h.data)


def append(conn: Connection, items: Sequence[AlarmHistoryItem]) -> None:
    rows: list[dict[str, Any]] = [
        {
            "item_id": i.item_id,
            "account_id": i.account_id,
            "region": i.region,
            "alarm_name": i.alarm_name,
            "alarm_type": i.alarm_type,
            "ts": i.timestamp,
            "item_type": i.item_type,
            "summary": i.summary,
            "data": i.data,
        }
        for i in items
    ]
    conn.execute(_APPEND[conn.dialect.name], rows)


def page(conn: Connection, query: AlarmHistoryQuery) -> tuple[list[AlarmHistoryItem], bool]:
    """One page ordered by (timestamp, item_id), newest or oldest first, and whether more follow."""
    conditions: list[ColumnElement[bool]] = [_h.account_id == query.account_id, _h.region == query.region]
    if query.alarm_name is not None:
        conditions.append(_h.alarm_name == query.alarm_name)
    if query.alarm_types:
        conditions.append(_h.alarm_type.in_(query.alarm_types))
    if query.item_type is not None:
        conditions.append(_h.item_type == query.item_type)
    if query.start is not None:
        conditions.append(_h.ts >= query.start)
    if query.end is not None:
        conditions.append(_h.ts <= query.end)
    if query.after is not None:
        at, item_id = query.after
        if query.newest_first:
            conditions.append(or_(_h.ts < at, and_(_h.ts == at, _h.item_id < item_id)))
        else:
            conditions.append(or_(_h.ts > at, and_(_h.ts == at, _h.item_id > item_id)))
    order = [_h.ts.desc(), _h.item_id.desc()] if query.newest_first else [_h.ts, _h.item_id]
    rows = conn.execute(_READ.where(*conditions).order_by(*order).limit(query.limit + 1)).all()
    items = [AlarmHistoryItem(**row._asdict()) for row in rows[: query.limit]]
    return items, len(rows) > query.limit


def purge(conn: Connection, timestamp: float) -> int:
    """Delete items older than `timestamp`, in every account and region; returns how many."""
    return int(conn.execute(delete(alarm_history).where(_h.ts < timestamp)).rowcount)

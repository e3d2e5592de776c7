"""SQL for log events: appends that keep stream statistics, ordered reads from a cursor, retention purges.

Each function runs inside the caller's connection or transaction; SqlLogStore owns the transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from sagemill.store.logs import EventQuery, LogEvent, LogGroupKey, LogGroupNotFound, LogStreamNotFound
from sagemill.store.sql.tables import log_events, log_groups, log_streams

_g, _s, _e = log_groups.c, log_streams.c, log_events.c


def group_filter(key: LogGroupKey) -> ColumnElement[bool]:
    return and_(_g.account_id == key.account_id, _g.region == key.region, _g.name == key.name)


def group_id_of(key: LogGroupKey) -> Any:
    """The group's id as a scalar subquery, so a write can start with the write itself."""
    return select(_g.id).where(group_filter(key)).scalar_subquery()


def successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix` (code point order)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def starts_with(column: Any, prefix: str) -> list[ColumnElement[bool]]:
    """A case-sensitive prefix test as an index range (both backends compare names by code point)."""
    upper = successor(prefix)
    if upper is None:
        return [column >= prefix, func.substr(column, 1, len(prefix)) == prefix]
    return [column >= prefix, column < upper]


def dialect_insert(conn: Connection, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the connection's backend."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def clean_text(message: str) -> str:
    """Text every backend stores: PostgreSQL refuses NUL, and neither can encode a lone surrogate."""
    if "\x00" in message:
        message = message.replace("\x00", "\ufffd")
    try:
        message.encode()
    except UnicodeEncodeError:
        message = message.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return message


def new_stream(group_id: int, name: str, created_ms: int) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "name": name,
        "created_ms": created_ms,
        "first_event_ms": None,
        "last_event_ms": None,
        "last_ingestion_ms": None,
        "stored_bytes": 0,
    }


def append(
    conn: Connection,
    group: LogGroupKey,
    stream: str,
    events: Sequence[tuple[int, str]],
    ingestion_ms: int,
    create: bool,
) -> None:
    """Insert cleaned (timestamp, message) pairs, creating the group and stream first if asked."""
    ids = _touch_stream(conn, group, stream, events, ingestion_ms)
    if ids is None:
        if not create:
            if conn.execute(select(_g.id).where(group_filter(group))).first() is None:
                raise LogGroupNotFound(group.name)
            raise LogStreamNotFound(stream)
        _ensure_stream(conn, group, stream, ingestion_ms)
        ids = _touch_stream(conn, group, stream, events, ingestion_ms)
        assert ids is not None
    if events:
        group_id, stream_id = ids
        rows = [
            {
                "group_id": group_id,
                "stream_id": stream_id,
                "timestamp": timestamp,
                "ingestion_ms": ingestion_ms,
                "size": len(message.encode()),
                "message": message,
            }
            for timestamp, message in events
        ]
        conn.execute(insert(log_events), rows)


def _touch_stream(
    conn: Connection, group: LogGroupKey, stream: str, events: Sequence[tuple[int, str]], ingestion_ms: int
) -> tuple[int, int] | None:
    """(group id, stream id), updating the stream's statistics first.

    The UPDATE comes first so that it takes the stream's row lock on PostgreSQL: appends to one
    stream then allocate event ids in commit order, which forward readers rely on.
    """
    where = [_s.group_id == group_id_of(group), _s.name == stream]
    if not events:
        found = conn.execute(select(_s.group_id, _s.id).where(*where)).first()
        return (found[0], found[1]) if found is not None else None
    oldest = min(t for t, _ in events)
    newest = max(t for t, _ in events)
    size = sum(len(m.encode()) for _, m in events)
    statement = (
        update(log_streams)
        .where(*where)
        .values(
            stored_bytes=_s.stored_bytes + size,
            first_event_ms=case(
                (or_(_s.first_event_ms.is_(None), _s.first_event_ms > oldest), oldest),
                else_=_s.first_event_ms,
            ),
            last_event_ms=case(
                (or_(_s.last_event_ms.is_(None), _s.last_event_ms < newest), newest),
                else_=_s.last_event_ms,
            ),
            last_ingestion_ms=ingestion_ms,
        )
        .returning(_s.group_id, _s.id)
    )
    row = conn.execute(statement).first()
    return (row[0], row[1]) if row is not None else None


def _ensure_stream(conn: Connection, group: LogGroupKey, stream: str, now_ms: int) -> None:
    new_group = {
        "account_id": group.account_id,
        "region": group.region,
        "name": group.name,
        "created_ms": now_ms,
        "retention_days": None,
        "kms_key_id": None,
        "log_group_class": "STANDARD",
        "deletion_protection": False,
    }
    conn.execute(dialect_insert(conn, log_groups).values(**new_group).on_conflict_do_nothing())
    group_id = conn.execute(select(_g.id).where(group_filter(group))).scalar_one()
    stream_row = new_stream(group_id, stream, now_ms)
    conn.execute(dialect_insert(conn, log_streams).values(**stream_row).on_conflict_do_nothing())


def read(conn: Connection, query: EventQuery) -> list[LogEvent]:
    group_id = conn.execute(select(_g.id).where(group_filter(query.group))).scalar()
    if group_id is None:
        return []
    conditions: list[ColumnElement[bool]] = []
    if query.stream_names is not None:
        found = conn.execute(select(_s.id).where(_s.group_id == group_id, _s.name.in_(query.stream_names)))
        stream_ids = list(found.scalars())
        if not stream_ids:
            return []
        # One stream reads through ix_log_events_stream; several through the group's index.
        conditions.append(
            _e.stream_id == stream_ids[0] if len(stream_ids) == 1 else _e.stream_id.in_(stream_ids)
        )
    else:
        conditions.append(_e.group_id == group_id)
    if query.stream_prefix:
        prefixed = select(_s.id).where(_s.group_id == group_id, *starts_with(_s.name, query.stream_prefix))
        conditions.append(_e.stream_id.in_(prefixed))
    if query.start_ms is not None:
        conditions.append(_e.timestamp >= query.start_ms)
    if query.end_ms is not None:
        conditions.append(_e.timestamp < query.end_ms)
    if query.cursor is not None:
        key, at = tuple_(_e.timestamp, _e.id), tuple_(query.cursor.timestamp, query.cursor.seq)
        conditions.append(key <= at if query.descending else key > at)
    order = [_e.timestamp.desc(), _e.id.desc()] if query.descending else [_e.timestamp, _e.id]
    statement = (
        select(_e.id, _e.timestamp, _e.ingestion_ms, _e.message, _s.name)
        .join(log_streams, _s.id == _e.stream_id)
        .where(*conditions)
        .order_by(*order)
        .limit(query.limit)
    )
    return [LogEvent(r.name, r.timestamp, r.id, r.ingestion_ms, r.message) for r in conn.execute(statement)]


def purge(conn: Connection, group_id: int, cutoff_ms: int) -> int:
    """Delete a group's events older than `cutoff_ms` and refresh its streams' statistics."""
    expired = and_(_e.group_id == group_id, _e.timestamp < cutoff_ms)
    per_stream = conn.execute(
        select(_e.stream_id, func.count(), func.coalesce(func.sum(_e.size), 0))
        .where(expired)
        .group_by(_e.stream_id)
    ).all()
    if not per_stream:
        return 0
    conn.execute(delete(log_events).where(expired))
    for stream_id, _count, size in per_stream:
        of_stream = _e.stream_id == stream_id
        conn.execute(
            update(log_streams)
            .where(_s.id == stream_id)
            .values(
                stored_bytes=case((_s.stored_bytes > int(size), _s.stored_bytes - int(size)), else_=0),
                first_event_ms=select(func.min(_e.timestamp)).where(of_stream).scalar_subquery(),
                last_event_ms=select(func.max(_e.timestamp)).where(of_stream).scalar_subquery(),
            )
        )
    return sum(int(count) for _, count, _ in per_stream)

"""SqlLogStore: the LogStore port over SQLAlchemy Core, sharing the SQL store's engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, literal, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from sagemill.domain.errors import AlreadyExists
from sagemill.store.logs import (
    EventQuery,
    LogEvent,
    LogGroup,
    LogGroupKey,
    LogGroupNotFound,
    LogGroupQuery,
    LogStream,
    LogStreamNotFound,
    LogStreamQuery,
)
from sagemill.store.sql import log_events as log_sql
from sagemill.store.sql.log_events import (
    clean_text,
    dialect_insert,
    group_filter,
    group_id_of,
    new_stream,
    starts_with,
)
from sagemill.store.sql.tables import log_events, log_group_tags, log_groups, log_streams

_DAY_MS = 86_400_000
_g, _s, _e, _t = log_groups.c, log_streams.c, log_events.c, log_group_tags.c

# storedBytes of a group is the sum over its streams: no hot group row for every writer to lock.
_GROUP_BYTES = (
    select(func.coalesce(func.sum(_s.stored_bytes), 0))
    .where(_s.group_id == _g.id)
    .scalar_subquery()
    .label("stored_bytes")
)


def _to_group(row: Row[Any]) -> LogGroup:
    return LogGroup(
        key=LogGroupKey(row.account_id, row.region, row.name),
        created_ms=row.created_ms,
        retention_days=row.retention_days,
        kms_key_id=row.kms_key_id,
        log_group_class=row.log_group_class,
        deletion_protection=bool(row.deletion_protection),
        stored_bytes=int(row.stored_bytes or 0),
    )


def _to_stream(group: LogGroupKey, row: Row[Any]) -> LogStream:
    return LogStream(
        group=group,
        name=row.name,
        created_ms=row.created_ms,
        first_event_ms=row.first_event_ms,
        last_event_ms=row.last_event_ms,
        last_ingestion_ms=row.last_ingestion_ms,
        stored_bytes=row.stored_bytes,
    )


class SqlLogStore:
    """The LogStore port on SQLite or PostgreSQL; see store/logs.py for the contract."""

    def __init__(self, engine: Engine, write_lock: AbstractContextManager[Any] | None = None) -> None:
        """`write_lock` should be the one the engine's other writers hold (SqlStore's, on SQLite)."""
        self.engine = engine
        # SQLite has one writer: queueing on an in-process lock beats SQLite's sleeping busy handler.
        if write_lock is None and engine.dialect.name == "sqlite":
            write_lock = threading.Lock()
        self._write_lock = write_lock

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._write_lock or nullcontext(), self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        """The engine belongs to whoever made it; nothing to release here."""

    # groups

    def create_log_group(self, group: LogGroup, tags: Mapping[str, str]) -> None:
        key = group.key
        try:
            with self._begin() as conn:
                result = conn.execute(
                    insert(log_groups).values(
                        account_id=key.account_id,
                        region=key.region,
                        name=key.name,
                        created_ms=group.created_ms,
                        retention_days=group.retention_days,
                        kms_key_id=group.kms_key_id,
                        log_group_class=group.log_group_class,
                        deletion_protection=group.deletion_protection,
                    )
                )
                inserted = result.inserted_primary_key
                assert inserted is not None
                group_id = inserted[0]
                if tags:
                    conn.execute(
                        insert(log_group_tags),
                        [{"group_id": group_id, "key": k, "value": v} for k, v in tags.items()],
                    )
        except IntegrityError as exc:
            raise AlreadyExists(key.name) from exc

    def get_log_group(self, key: LogGroupKey, *, count_bytes: bool = True) -> LogGroup | None:
        stored_bytes = _GROUP_BYTES if count_bytes else literal(0).label("stored_bytes")
        with self.engine.connect() as conn:
            row = conn.execute(select(log_groups, stored_bytes).where(group_filter(key))).first()
        return _to_group(row) if row is not None else None

    def list_log_groups(self, query: LogGroupQuery) -> tuple[list[LogGroup], bool]:
        conditions: list[ColumnElement[bool]] = [_g.account_id == query.account_id, _g.region == query.region]
        if query.name_prefix:
            conditions += starts_with(_g.name, query.name_prefix)
        if query.names is not None:
            conditions.append(_g.name.in_(query.names))
        if query.classes is not None:
            conditions.append(_g.log_group_class.in_(query.classes))
        if query.after_name is not None:
            conditions.append(_g.name > query.after_name)
        statement = select(log_groups, _GROUP_BYTES)
        with self.engine.connect() as conn:
            if query.name_contains:
                finder = func.strpos if conn.dialect.name == "postgresql" else func.instr
                conditions.append(finder(_g.name, query.name_contains) > 0)
            rows = conn.execute(statement.where(*conditions).order_by(_g.name).limit(query.limit + 1)).all()
        return [_to_group(r) for r in rows[: query.limit]], len(rows) > query.limit

    def delete_log_group(self, key: LogGroupKey) -> bool:
        group_id = group_id_of(key)
        with self._begin() as conn:
            conn.execute(delete(log_events).where(_e.group_id == group_id))
            conn.execute(delete(log_streams).where(_s.group_id == group_id))
            conn.execute(delete(log_group_tags).where(_t.group_id == group_id))
            return conn.execute(delete(log_groups).where(group_filter(key))).rowcount == 1

    def set_retention(self, key: LogGroupKey, days: int | None) -> bool:
        with self._begin() as conn:
            result = conn.execute(update(log_groups).where(group_filter(key)).values(retention_days=days))
            return result.rowcount == 1

    def set_deletion_protection(self, key: LogGroupKey, enabled: bool) -> bool:
        with self._begin() as conn:
            result = conn.execute(
                update(log_groups).where(group_filter(key)).values(deletion_protection=enabled)
            )
            return result.rowcount == 1

    # streams

    def create_log_stream(self, group: LogGroupKey, name: str, created_ms: int) -> None:
        try:
            with self._begin() as conn:
                group_id = conn.execute(select(_g.id).where(group_filter(group))).scalar()
                if group_id is None:
                    raise LogGroupNotFound(group.name)
                conn.execute(insert(log_streams).values(**new_stream(group_id, name, created_ms)))
        except IntegrityError as exc:
            # A duplicate name, or the group deleted under us.
            if self.get_log_group(group, count_bytes=False) is None:
                raise LogGroupNotFound(group.name) from exc
            raise AlreadyExists(name) from exc

    def get_log_stream(self, group: LogGroupKey, name: str) -> LogStream | None:
        statement = select(log_streams).where(_s.group_id == group_id_of(group), _s.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(statement).first()
        return _to_stream(group, row) if row is not None else None

    def list_log_streams(self, query: LogStreamQuery) -> tuple[list[LogStream], bool]:
        conditions: list[ColumnElement[bool]] = [_s.group_id == group_id_of(query.group)]
        if query.name_prefix:
            conditions += starts_with(_s.name, query.name_prefix)
        if query.by_last_event:
            last = func.coalesce(_s.last_event_ms, -1)
            if query.after is not None:
                value, name = query.after
                if query.descending:
                    conditions.append(or_(last < value, and_(last == value, _s.name < name)))
                else:
                    conditions.append(or_(last > value, and_(last == value, _s.name > name)))
            order = [last.desc(), _s.name.desc()] if query.descending else [last.asc(), _s.name.asc()]
        else:
            if query.after is not None:
                after_name = query.after[1]
                conditions.append(_s.name < after_name if query.descending else _s.name > after_name)
            order = [_s.name.desc() if query.descending else _s.name.asc()]
        statement = select(log_streams).where(*conditions).order_by(*order).limit(query.limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        return [_to_stream(query.group, r) for r in rows[: query.limit]], len(rows) > query.limit

    def delete_log_stream(self, group: LogGroupKey, name: str) -> bool:
        stream_ids = select(_s.id).where(_s.group_id == group_id_of(group), _s.name == name)
        with self._begin() as conn:
            conn.execute(delete(log_events).where(_e.stream_id.in_(stream_ids)))
            result = conn.execute(
                delete(log_streams).where(_s.group_id == group_id_of(group), _s.name == name)
            )
            return result.rowcount == 1

    # events

    def append_events(
        self,
        group: LogGroupKey,
        stream: str,
        events: Sequence[tuple[int, str]],
        ingestion_ms: int,
        *,
        create: bool = False,
    ) -> int:
        cleaned = [(timestamp, clean_text(message)) for timestamp, message in events]
        try:
            with self._begin() as conn:
                log_sql.append(conn, group, stream, cleaned, ingestion_ms, create)
        except IntegrityError as exc:
            # The group or stream was deleted between the lookup and the insert.
            raise LogStreamNotFound(stream) from exc
        return len(cleaned)

    def read_events(self, query: EventQuery) -> list[LogEvent]:
        with self.engine.connect() as conn:
            return log_sql.read(conn, query)

    def purge_expired(self, now_ms: int) -> int:
        with self.engine.connect() as conn:
            policies = conn.execute(
                select(_g.id, _g.retention_days).where(_g.retention_days.is_not(None))
            ).all()
        purged = 0
        for group_id, days in policies:
            # One transaction per group: a large purge never holds the writer for long.
            with self._begin() as conn:
                purged += log_sql.purge(conn, group_id, now_ms - int(days) * _DAY_MS)
        return purged

    # tags

    def set_group_tags(self, key: LogGroupKey, tags: Mapping[str, str]) -> bool:
        with self._begin() as conn:
            group_id = conn.execute(select(_g.id).where(group_filter(key))).scalar()
            if group_id is None:
                return False
            if tags:
                rows = [{"group_id": group_id, "key": k, "value": v} for k, v in tags.items()]
                upsert = dialect_insert(conn, log_group_tags).values(rows)
                conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[_t.group_id, _t.key], set_={"value": upsert.excluded.value}
                    )
                )
        return True

    def remove_group_tags(self, key: LogGroupKey, keys: Sequence[str]) -> bool:
        with self._begin() as conn:
            group_id = conn.execute(select(_g.id).where(group_filter(key))).scalar()
            if group_id is None:
                return False
            if keys:
                conn.execute(delete(log_group_tags).where(_t.group_id == group_id, _t.key.in_(list(keys))))
        return True

    def group_tags(self, key: LogGroupKey) -> dict[str, str] | None:
        with self.engine.connect() as conn:
            group_id = conn.execute(select(_g.id).where(group_filter(key))).scalar()
            if group_id is None:
                return None
            rows = conn.execute(
                select(_t.key, _t.value).where(_t.group_id == group_id).order_by(_t.key)
            ).all()
        return {row.key: row.value for row in rows}

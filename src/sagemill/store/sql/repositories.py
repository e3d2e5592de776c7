"""SqlStore: the Store port over SQLAlchemy Core; rows ↔ domain entities."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from sagemill.domain.errors import AlreadyExists, NotFound, VersionConflict
from sagemill.domain.resources import (
    AccessKey,
    Account,
    Resource,
    ResourceKey,
    ResourceQuery,
    SortKey,
    SortOrder,
    Tag,
)
from sagemill.store.sql.engine import make_engine
from sagemill.store.sql.tables import access_keys, accounts, resources, tags

_LIKE_ESCAPE = "\\"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _to_resource(row: Row[Any]) -> Resource:
    return Resource(
        key=ResourceKey(row.account_id, row.region, row.kind, row.name),
        arn=row.arn,
        desired=json.loads(row.desired),
        observed=json.loads(row.observed),
        status=row.status,
        status_reason=row.status_reason,
        version=row.version,
        next_action_at=row.next_action_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _distinct_keys(tag_list: list[Tag]) -> list[Tag]:
    """One tag per key, the last given winning, as a dict would keep them."""
    return list({t.key: t for t in tag_list}.values())


def _upsert_tags(conn: Connection, arn: str, tag_list: list[Tag]) -> None:
    rows = [{"arn": arn, "key": t.key, "value": t.value} for t in _distinct_keys(tag_list)]
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        # ON CONFLICT, not delete-then-insert: two writers of one key under READ COMMITTED would
        # both delete nothing, and the second insert would fail on the primary key.
        upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(tags).values(rows)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[tags.c.arn, tags.c.key], set_={"value": upsert.excluded.value}
            )
        )
        return
    conn.execute(delete(tags).where(tags.c.arn == arn, tags.c.key.in_([r["key"] for r in rows])))
    conn.execute(insert(tags), rows)


# Built once: SQLAlchemy's compiled cache then skips expression building on the hot read paths.
_BY_ARN = select(resources).where(resources.c.arn == bindparam("arn"))
_BY_KEY = select(resources).where(
    resources.c.account_id == bindparam("account_id"),
    resources.c.region == bindparam("region"),
    resources.c.kind == bindparam("kind"),
    resources.c.name == bindparam("name"),
)


_INSERT = insert(resources)
_ARN_BY_KEY = select(resources.c.arn).where(
    resources.c.account_id == bindparam("account_id"),
    resources.c.region == bindparam("region"),
    resources.c.kind == bindparam("kind"),
    resources.c.name == bindparam("name"),
)
_DELETE_BY_ARN = delete(resources).where(resources.c.arn == bindparam("arn"))
# update_resources: one statement per item, each telling by its RETURNING row whether its version
# matched (an executemany reports only the total rowcount, not which items were skipped).
_UPDATE_AT_VERSION = (
    update(resources)
    .where(
        resources.c.account_id == bindparam("k_account_id"),
        resources.c.region == bindparam("k_region"),
        resources.c.kind == bindparam("k_kind"),
        resources.c.name == bindparam("k_name"),
        resources.c.version == bindparam("k_version"),
    )
    .values(
        desired=bindparam("v_desired"),
        observed=bindparam("v_observed"),
        status=bindparam("v_status"),
        status_reason=bindparam("v_status_reason"),
        version=bindparam("v_version"),
        next_action_at=bindparam("v_next_action_at"),
        updated_at=bindparam("v_updated_at"),
    )
    .returning(resources)
)
_DELETE_TAGS = delete(tags).where(tags.c.arn == bindparam("arn"))


def _key_tuple(key: ResourceKey) -> tuple[str, str, str, str]:
    return (key.account_id, key.region, key.kind, key.name)


def _key_filter(key: ResourceKey) -> ColumnElement[bool]:
    return and_(
        resources.c.account_id == key.account_id,
        resources.c.region == key.region,
        resources.c.kind == key.kind,
        resources.c.name == key.name,
    )


class SqlStore:
    """The Store port on SQLite or PostgreSQL; see store/base.py for the contract."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        # SQLite has one writer; queueing writers on a lock here is far cheaper than SQLite's
        # busy handler, which sleeps and retries.
        self.write_lock = threading.Lock() if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.write_lock or nullcontext(), self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # resources

    def create_resource(self, resource: Resource, tag_list: list[Tag]) -> None:
        key = resource.key
        try:
            with self._begin() as conn:
                conn.execute(
                    _INSERT,
                    {
                        "account_id": key.account_id,
                        "region": key.region,
                        "kind": key.kind,
                        "name": key.name,
                        "arn": resource.arn,
                        "desired": json.dumps(resource.desired, separators=(",", ":")),
                        "observed": json.dumps(resource.observed, separators=(",", ":")),
                        "status": resource.status,
                        "status_reason": resource.status_reason,
                        "version": resource.version,
                        "next_action_at": resource.next_action_at,
                        "created_at": resource.created_at,
                        "updated_at": resource.updated_at,
                    },
                )
                # A resource that was deleted may leave no tags behind, but be safe on reuse.
                conn.execute(_DELETE_TAGS, {"arn": resource.arn})
                _upsert_tags(conn, resource.arn, tag_list)
        except IntegrityError as exc:
            raise AlreadyExists(resource.arn) from exc

    def get_resource(self, key: ResourceKey) -> Resource | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                _BY_KEY,
                {"account_id": key.account_id, "region": key.region, "kind": key.kind, "name": key.name},
            ).first()
        return _to_resource(row) if row is not None else None

    def get_resource_by_arn(self, arn: str) -> Resource | None:
        with self.engine.connect() as conn:
            row = conn.execute(_BY_ARN, {"arn": arn}).first()
        return _to_resource(row) if row is not None else None

    def update_resource(self, resource: Resource, expected_version: int) -> Resource:
        new_version = expected_version + 1
        with self._begin() as conn:
            result = conn.execute(
                update(resources)
                .where(_key_filter(resource.key), resources.c.version == expected_version)
                .values(
                    desired=json.dumps(resource.desired, separators=(",", ":")),
                    observed=json.dumps(resource.observed, separators=(",", ":")),
                    status=resource.status,
                    status_reason=resource.status_reason,
                    version=new_version,
                    next_action_at=resource.next_action_at,
                    updated_at=resource.updated_at,
                )
            )
            if result.rowcount != 1:
                exists = conn.execute(select(resources.c.version).where(_key_filter(resource.key))).first()
                if exists is None:
                    raise NotFound(resource.arn)
                raise VersionConflict(resource.arn)
            row = conn.execute(select(resources).where(_key_filter(resource.key))).one()
        return _to_resource(row)

    def update_resources(self, items: Sequence[tuple[Resource, int]]) -> list[Resource | None]:
        if not items:
            return []
        written: list[Resource | None] = [None] * len(items)
        # Rows are locked in key order, the same in every batch, so that two batches over the same rows
        # cannot deadlock on PostgreSQL; the sort is stable, so repeats of one key keep their order.
        order = sorted(range(len(items)), key=lambda i: _key_tuple(items[i][0].key))
        with self._begin() as conn:
            for position in order:
                resource, expected_version = items[position]
                key = resource.key
                row = conn.execute(
                    _UPDATE_AT_VERSION,
                    {
                        "k_account_id": key.account_id,
                        "k_region": key.region,
                        "k_kind": key.kind,
                        "k_name": key.name,
                        "k_version": expected_version,
                        "v_desired": json.dumps(resource.desired, separators=(",", ":")),
                        "v_observed": json.dumps(resource.observed, separators=(",", ":")),
                        "v_status": resource.status,
                        "v_status_reason": resource.status_reason,
                        "v_version": expected_version + 1,
                        "v_next_action_at": resource.next_action_at,
                        "v_updated_at": resource.updated_at,
                    },
                ).first()
                if row is not None:
                    written[position] = _to_resource(row)
        return written

    def delete_resource(self, key: ResourceKey) -> bool:
        with self._begin() as conn:
            arn = conn.execute(
                _ARN_BY_KEY,
                {"account_id": key.account_id, "region": key.region, "kind": key.kind, "name": key.name},
            ).scalar()
            if arn is None:
                return False
            conn.execute(_DELETE_BY_ARN, {"arn": arn})
            conn.execute(_DELETE_TAGS, {"arn": arn})
        return True

    def list_resources(self, query: ResourceQuery) -> tuple[list[Resource], bool]:
        c = resources.c
        conditions: list[ColumnElement[bool]] = [
            c.account_id == query.account_id,
            c.region == query.region,
            c.kind == query.kind,
        ]
        if query.name_contains:
            conditions.append(
                func.lower(c.name).like(_like_pattern(query.name_contains.lower()), escape=_LIKE_ESCAPE)
            )
        if query.created_after is not None:
            conditions.append(c.created_at >= query.created_after)
        if query.created_before is not None:
            conditions.append(c.created_at < query.created_before)
        if query.modified_after is not None:
            conditions.append(c.updated_at >= query.modified_after)
        if query.modified_before is not None:
            conditions.append(c.updated_at < query.modified_before)
        if query.status:
            conditions.append(c.status == query.status)
        sort_column = {SortKey.NAME: c.name, SortKey.CREATION_TIME: c.created_at, SortKey.STATUS: c.status}[
            query.sort_key
        ]
        descending = query.sort_order is SortOrder.DESCENDING
        if query.after is not None:
            value, name = query.after
            if query.sort_key is SortKey.NAME:
                conditions.append(c.name < name if descending else c.name > name)
            elif descending:
                conditions.append(or_(sort_column < value, and_(sort_column == value, c.name < name)))
            else:
                conditions.append(or_(sort_column > value, and_(sort_column == value, c.name > name)))
        order = [sort_column.desc(), c.name.desc()] if descending else [sort_column.asc(), c.name.asc()]
        statement = select(resources).where(*conditions).order_by(*order).limit(query.limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        page = [_to_resource(row) for row in rows[: query.limit]]
        return page, len(rows) > query.limit

    def due_resources(self, kind: str, now: float, limit: int) -> list[Resource]:
        statement = (
            select(resources)
            .where(resources.c.kind == kind, resources.c.next_action_at <= now)
            .order_by(resources.c.next_action_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_to_resource(row) for row in conn.execute(statement).all()]

    def count_by_status(self, kind: str) -> dict[str, int]:
        statement = (
            select(resources.c.status, func.count())
            .where(resources.c.kind == kind)
            .group_by(resources.c.status)
        )
        with self.engine.connect() as conn:
            return {str(status): int(count) for status, count in conn.execute(statement).all()}

    def next_action_time(self, kind: str) -> float | None:
        statement = select(func.min(resources.c.next_action_at)).where(resources.c.kind == kind)
        with self.engine.connect() as conn:
            value = conn.execute(statement).scalar()
        return None if value is None else float(value)

    # tags

    def set_tags(self, arn: str, tag_list: list[Tag]) -> None:
        if not tag_list:
            return
        with self._begin() as conn:
            _upsert_tags(conn, arn, tag_list)

    def remove_tags(self, arn: str, keys: list[str]) -> None:
        with self._begin() as conn:
            conn.execute(delete(tags).where(tags.c.arn == arn, tags.c.key.in_(keys)))

    def list_tags(self, arn: str, after_key: str | None, limit: int) -> tuple[list[Tag], bool]:
        statement = select(tags.c.key, tags.c.value).where(tags.c.arn == arn)
        if after_key is not None:
            statement = statement.where(tags.c.key > after_key)
        statement = statement.order_by(tags.c.key).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        return [Tag(r.key, r.value) for r in rows[:limit]], len(rows) > limit

    def count_tags(self, arn: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(tags.c.arn == arn)).scalar_one())

    # accounts and keys

    def create_account(self, account: Account) -> None:
        try:
            with self._begin() as conn:
                conn.execute(
                    insert(accounts).values(
                        account_id=account.account_id, name=account.name, created_at=account.created_at
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(account.account_id) from exc

    def get_account(self, account_id: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(accounts).where(accounts.c.account_id == account_id)).first()
        return Account(row.account_id, row.name, row.created_at) if row is not None else None

    def create_access_key(self, key: AccessKey, secret_ciphertext: bytes) -> None:
        try:
            with self._begin() as conn:
                conn.execute(
                    insert(access_keys).values(
                        access_key_id=key.access_key_id,
                        account_id=key.account_id,
                        user_name=key.user_name,
                        status=key.status,
                        secret_ciphertext=secret_ciphertext,
                        created_at=key.created_at,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(key.access_key_id) from exc

    def get_access_key(self, access_key_id: str) -> tuple[AccessKey, bytes] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(access_keys).where(access_keys.c.access_key_id == access_key_id)
            ).first()
        if row is None:
            return None
        key = AccessKey(row.access_key_id, row.account_id, row.user_name, row.status, row.created_at)
        return key, bytes(row.secret_ciphertext)

"""The Store contract on SQLite and PostgreSQL, plus migrations and SQLite connection settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from sagemill.domain.resources import ResourceQuery
from sagemill.store.sql import migrate
from sagemill.store.sql.engine import make_engine, normalize_url
from sagemill.store.sql.repositories import SqlStore
from sagemill.store.sql.tables import metadata
from sagemill.testing.store_contract import StoreContract, make_resource

POSTGRES_URL_ENV = "SAGEMILL_TEST_POSTGRES_URL"
BACKENDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


class PostgresServer:
    """Hands out throwaway databases on the test server and drops them when the session ends."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        # AUTOCOMMIT: CREATE/DROP DATABASE refuse to run inside a transaction.
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.databases: list[str] = []
        self.schemas: list[str] = []

    def fresh_url(self) -> str:
        """A URL to a new, empty database (or schema, where the role may not create databases)."""
        name = f"sagemill_t_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as conn:
            try:
                # A case-insensitive ICU collation, as production databases often have, so the
                # suite notices any ordering that leans on the database's collation.
                conn.execute(
                    text(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
                )
                self.databases.append(name)
                return make_url(self.url).set(database=name).render_as_string(hide_password=False)
            except DBAPIError:
                pass  # PostgreSQL < 15, no ICU, or no CREATEDB: try the plainer ways below.
            try:
                conn.execute(text(f"CREATE DATABASE {name}"))
                self.databases.append(name)
                return make_url(self.url).set(database=name).render_as_string(hide_password=False)
            except DBAPIError:
                conn.execute(text(f"CREATE SCHEMA {name}"))
                self.schemas.append(name)
                url = make_url(self.url).update_query_dict({"options": f"-csearch_path={name}"})
                return url.render_as_string(hide_password=False)

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in self.databases:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            for name in self.schemas:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        reason = f"{POSTGRES_URL_ENV} is not set; run with {POSTGRES_URL_ENV}=$(scripts/postgres up)"
        # CI must prove the PostgreSQL adapter: a missing server there is a failure, not a skip.
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(url)
    yield server
    server.close()


def fresh_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.fresh_url()


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('store') / 'contract.db'}")
    migrate.upgrade(store.engine)
    yield store
    store.close()


@pytest.fixture(scope="session")
def postgres_store(postgres: PostgresServer) -> Iterator[SqlStore]:
    store = SqlStore(postgres.fresh_url())
    migrate.upgrade(store.engine)
    yield store
    store.close()


def empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


class TestStoreContract(StoreContract):
    """One migrated database per backend and session, emptied before each test (cheaper than a new one)."""

    @pytest.fixture(params=BACKENDS)
    def store(self, request: pytest.FixtureRequest) -> SqlStore:
        store: SqlStore = request.getfixturevalue(f"{request.param}_store")
        empty(store.engine)
        return store


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_bring_an_empty_database_to_head(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = fresh_url(backend, request, tmp_path)
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) is None
        assert migrate.is_current(engine) is False
        assert migrate.upgrade(engine) == (None, migrate.head_revision())
        assert migrate.is_current(engine) is True
        assert migrate.upgrade(engine) == (migrate.head_revision(), migrate.head_revision())
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} | {"alembic_version"} == tables
        # The migrations and tables.py describe one schema: every column the store names exists.
        for table in metadata.sorted_tables:
            migrated = {c["name"] for c in inspect(engine).get_columns(table.name)}
            assert migrated == {c.name for c in table.columns}, table.name
        store = SqlStore(url, engine)
        resource = make_resource("after-migration")
        store.create_resource(resource, [])
        assert store.list_resources(
            ResourceQuery(resource.key.account_id, resource.key.region, resource.key.kind)
        ) == ([resource], False)
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        migrate.upgrade(store.engine)
        # Two connections at once: the settings must hold for every pooled connection, not the first.
        with store.engine.connect() as first, store.engine.connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 5000
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        store.close()

"""The LogStore contract on SQLite and PostgreSQL, plus the indexes the event reads rely on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from test_store import BACKENDS, POSTGRES_URL_ENV, PostgresServer, empty

from sagemill.store.sql import migrate
from sagemill.store.sql.engine import make_engine
from sagemill.store.sql.logs import SqlLogStore
from sagemill.testing.log_store_contract import LogStoreContract


@pytest.fixture(scope="session")
def log_postgres_engine() -> Iterator[Engine]:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        reason = f"{POSTGRES_URL_ENV} is not set; run with {POSTGRES_URL_ENV}=$(scripts/postgres up)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(url)
    engine = make_engine(server.fresh_url())
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    server.close()


@pytest.fixture(scope="session")
def log_sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('logs') / 'logs.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


class TestLogStoreContract(LogStoreContract):
    """One migrated database per backend and session, emptied before each test."""

    @pytest.fixture(params=BACKENDS)
    def log_store(self, request: pytest.FixtureRequest) -> SqlLogStore:
        engine: Engine = request.getfixturevalue(f"log_{request.param}_engine")
        empty(engine)
        return SqlLogStore(engine)


@pytest.mark.parametrize("backend", BACKENDS)
def test_event_indexes_exist(backend: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"log_{backend}_engine")
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("log_events")}
    assert indexes["ix_log_events_stream"] == ["stream_id", "timestamp", "id"]
    assert indexes["ix_log_events_group"] == ["group_id", "timestamp", "id"]


def test_sqlite_reads_one_stream_through_its_index(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        migrate.upgrade(engine)
        plan_sql = (
            "EXPLAIN QUERY PLAN SELECT id FROM log_events WHERE stream_id = 1 "
            "AND (timestamp, id) > (5, 7) ORDER BY timestamp, id LIMIT 10"
        )
        with engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.execute(text(plan_sql)))
        assert "ix_log_events_stream" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        engine.dispose()

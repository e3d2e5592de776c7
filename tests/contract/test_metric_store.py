"""The MetricStore contract on SQLite and PostgreSQL, plus the SQL adapter's own indexes, plans and cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect
from test_store import BACKENDS, POSTGRES_URL_ENV, PostgresServer, empty

from sagemill.store.metrics import MetricFilter
from sagemill.store.sql import migrate
from sagemill.store.sql.engine import make_engine
from sagemill.store.sql.metrics import SqlMetricStore
from sagemill.testing.metric_store_contract import (
    ACCOUNT,
    REGION,
    T0,
    MetricStoreContract,
    aggregates,
    mkey,
    one,
)


@pytest.fixture(scope="session")
def metric_postgres_engine() -> Iterator[Engine]:
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
def metric_sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'metrics.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def metric_engine(request: pytest.FixtureRequest) -> Engine:
    """One migrated database per backend and session, emptied before each test."""
    engine: Engine = request.getfixturevalue(f"metric_{request.param}_engine")
    empty(engine)
    return engine


class TestMetricStoreContract(MetricStoreContract):
    @pytest.fixture
    def metric_store(self, metric_engine: Engine) -> SqlMetricStore:
        return SqlMetricStore(metric_engine)


@pytest.mark.parametrize("backend", BACKENDS)
def test_metric_indexes_exist(backend: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"metric_{backend}_engine")
    schema = inspect(engine)
    assert schema.get_pk_constraint("metric_samples")["constrained_columns"] == ["series_id", "ts", "seq"]
    assert schema.get_unique_constraints("metric_series")[0]["column_names"] == ["key_hash"]

    def indexes(table: str) -> dict[str, list[str | None]]:
        return {i["name"]: i["column_names"] for i in schema.get_indexes(table) if i["name"]}

    listing = ["account_id", "region", "namespace", "metric_name"]
    assert indexes("metric_series")["ix_metric_series_listing"] == listing
    assert indexes("metric_dimensions")["ix_metric_dimensions_value"] == ["name", "value"]
    history = indexes("alarm_history")
    assert history["ix_alarm_history_alarm"] == ["account_id", "region", "alarm_name", "ts"]
    assert history["ix_alarm_history_time"] == ["account_id", "region", "ts"]


def test_a_store_whose_cached_series_was_purged_elsewhere_recreates_it(metric_engine: Engine) -> None:
    """Two stores on one database stand for two server processes: each caches series ids."""
    writer, purger = SqlMetricStore(metric_engine), SqlMetricStore(metric_engine)
    key, kept = mkey("Purged"), mkey("Kept")
    writer.put_samples([(key, one(T0, 1.0)), (kept, one(T0 + 10, 1.0))])
    assert purger.purge_before(T0 + 5) == 1
    # No newer than what the writer remembers of both series: it writes samples only, finds one
    # series gone, and puts again creating it.
    writer.put_samples([(key, one(T0, 2.0)), (kept, one(T0 + 10, 1.0))])
    assert aggregates(purger, key, T0, T0 + 60, 60) == [(T0, 1.0, 2.0, 2.0, 2.0)]
    assert aggregates(writer, kept, T0, T0 + 60, 60) == [(T0, 2.0, 2.0, 1.0, 1.0)]
    writer.put_samples([(key, one(T0 + 20, 3.0))])
    assert aggregates(writer, key, T0, T0 + 60, 60) == [(T0, 2.0, 5.0, 2.0, 3.0)]
    keys, _ = purger.list_metrics(MetricFilter(ACCOUNT, REGION), None, 10)
    assert [k.metric_name for k in keys] == ["Kept", "Purged"]


def test_sqlite_aggregates_periods_without_a_sort(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        migrate.upgrade(engine)
        store = SqlMetricStore(engine)
        keys = [mkey(), mkey("Other")]
        store.put_samples([(k, one(T0 + t, 1.0)) for k in keys for t in range(0, 600, 7)])
        plans: list[str] = []

        def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            # On the same connection: the statement may use that connection's TEMP tables.
            if "sum(" in statement.lower():
                rows = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plans.append(" ".join(str(row[-1]) for row in rows))

        event.listen(engine, "before_cursor_execute", explain)
        assert len(store.aggregate(keys, T0, T0 + 600, 60)[keys[0]]) == 10
        event.remove(engine, "before_cursor_execute", explain)
        [plan] = plans
        assert "USING PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        engine.dispose()

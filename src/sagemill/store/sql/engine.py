"""Database URL → SQLAlchemy engine, with SQLite set up for durability and concurrency."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def normalize_url(url: str) -> str:
    """Accept the URLs users type (postgresql://, postgres://) and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'sagemill.db').resolve()}"


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


def sqlite_synchronous() -> str:
    """FULL (default): each commit is fsynced, so acknowledged writes survive a power loss too.

    NORMAL (`SAGEMILL_SQLITE_SYNCHRONOUS=normal`) skips that fsync: writes still survive any crash of
    the server process, but the last moments before a power loss or kernel crash may be lost.
    """
    value = os.environ.get("SAGEMILL_SQLITE_SYNCHRONOUS", "full").strip().upper()
    return value if value in ("FULL", "NORMAL") else "FULL"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; FULL syncs each commit so an
    # acknowledged write survives a crash of the process or the machine.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()

"""SQLAlchemy Core tables: indexed columns plus the desired state as JSON text."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _code_point_order(length: int) -> String:
    """A string column that sorts by code point on every backend (migration 0002)."""
    # SQLite's default collation is already binary; PostgreSQL's is the database's locale.
    return String(length).with_variant(String(length, collation="C"), "postgresql")


accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("created_at", Double, nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
)

resources = Table(
    "resources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("name", _code_point_order(256), nullable=False),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("desired", Text, nullable=False),
    Column("observed", Text, nullable=False),
    Column("status", String(64), nullable=False),
    Column("status_reason", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("next_action_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("account_id", "region", "kind", "name", name="uq_resources_key"),
    Index("ix_resources_listing", "account_id", "region", "kind", "created_at"),
    Index("ix_resources_due", "kind", "next_action_at"),
)

tags = Table(
    "tags",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("key", _code_point_order(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

# CloudWatch Logs (migration 0003). Times are integer milliseconds; names are case-sensitive and
# compare by code point, so prefix ranges and name order agree on SQLite and PostgreSQL.

_row_id = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid

log_groups = Table(
    "log_groups",
    metadata,
    Column("id", _row_id, primary_key=True, autoincrement=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", _code_point_order(512), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("retention_days", Integer, nullable=True),
    Column("kms_key_id", String(256), nullable=True),
    Column("log_group_class", String(32), nullable=False),
    Column("deletion_protection", Boolean, nullable=False),
    UniqueConstraint("account_id", "region", "name", name="uq_log_groups_key"),
)

log_group_tags = Table(
    "log_group_tags",
    metadata,
    Column("group_id", _row_id, ForeignKey("log_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("key", _code_point_order(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

log_streams = Table(
    "log_streams",
    metadata,
    Column("id", _row_id, primary_key=True, autoincrement=True),
    Column("group_id", _row_id, ForeignKey("log_groups.id", ondelete="CASCADE"), nullable=False),
    Column("name", _code_point_order(512), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("first_event_ms", BigInteger, nullable=True),
    Column("last_event_ms", BigInteger, nullable=True),
    Column("last_ingestion_ms", BigInteger, nullable=True),
    Column("stored_bytes", BigInteger, nullable=False),
    UniqueConstraint("group_id", "name", name="uq_log_streams_key"),
)

log_events = Table(
    "log_events",
    metadata,
    Column("id", _row_id, primary_key=True, autoincrement=True),
    Column("group_id", _row_id, ForeignKey("log_groups.id", ondelete="CASCADE"), nullable=False),
    Column("stream_id", _row_id, ForeignKey("log_streams.id", ondelete="CASCADE"), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("ingestion_ms", BigInteger, nullable=False),
    Column("size", Integer, nullable=False),
    Column("message", Text, nullable=False),
    # One stream in order (GetLogEvents), and one group interleaved or expiring (FilterLogEvents, purge).
    Index("ix_log_events_stream", "stream_id", "timestamp", "id"),
    Index("ix_log_events_group", "group_id", "timestamp", "id"),
)

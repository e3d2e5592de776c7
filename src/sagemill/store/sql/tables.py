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

# CloudWatch metrics and alarm history (migration 0004). Sample times are integer seconds.

metric_series = Table(
    "metric_series",
    metadata,
    Column("id", _row_id, primary_key=True, autoincrement=True),
    # A digest of the whole identity: the unique key PostgreSQL can index whatever the dimensions'
    # length (a B-tree entry holds at most ~2.7 kB; 30 dimensions may hold 38 kB).
    Column("key_hash", String(32), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("namespace", _code_point_order(255), nullable=False),
    Column("metric_name", _code_point_order(255), nullable=False),
    # Canonical JSON of the sorted (name, value) pairs: the identity's last part and the listing order.
    Column("dimensions_key", Text().with_variant(Text(collation="C"), "postgresql"), nullable=False),
    Column("last_sample_at", BigInteger, nullable=False),
    UniqueConstraint("key_hash", name="uq_metric_series_key"),
    Index("ix_metric_series_listing", "account_id", "region", "namespace", "metric_name"),
    # Ids are never reused, so a series id cached by a writer can only go stale by disappearing.
    sqlite_autoincrement=True,
)

# ListMetrics' dimension filters (a name, or a name and a value) probe this table.
metric_dimensions = Table(
    "metric_dimensions",
    metadata,
    Column(
        "series_id",
        _row_id,
        ForeignKey("metric_series.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("name", _code_point_order(255), primary_key=True),
    Column("value", _code_point_order(1024), nullable=False),
    Index("ix_metric_dimensions_value", "name", "value"),
    sqlite_with_rowid=False,
)

# Clustered by (series, second) on SQLite: a period's samples are one contiguous range of one B-tree.
# `seq` only tells apart samples of one second; no ON DELETE CASCADE, so that a purge racing a writer
# fails instead of deleting what the writer just stored.
metric_samples = Table(
    "metric_samples",
    metadata,
    Column("series_id", _row_id, ForeignKey("metric_series.id"), primary_key=True, autoincrement=False),
    Column("ts", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("unit", String(32), nullable=False),
    Column("count", Double, nullable=False),
    Column("sum", Double, nullable=False),
    Column("minimum", Double, nullable=False),
    Column("maximum", Double, nullable=False),
    Column("value", Double, nullable=True),
    sqlite_with_rowid=False,
)

alarm_history = Table(
    "alarm_history",
    metadata,
    Column("item_id", _code_point_order(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("alarm_name", _code_point_order(255), nullable=False),
    Column("alarm_type", String(32), nullable=False),
    Column("ts", Double, nullable=False),
    Column("item_type", String(32), nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", Text, nullable=False),
    # One alarm's history, and a region's (DescribeAlarmHistory without AlarmName).
    Index("ix_alarm_history_alarm", "account_id", "region", "alarm_name", "ts"),
    Index("ix_alarm_history_time", "account_id", "region", "ts"),
)

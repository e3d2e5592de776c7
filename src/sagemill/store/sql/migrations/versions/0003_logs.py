"""CloudWatch Logs: log groups, their tags, log streams and log events.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _row_id() -> sa.types.TypeEngine[int]:
    # BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY aliases the rowid (and autoincrements).
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _name(length: int) -> sa.String:
    """Compared by code point on every backend, as migration 0002 does for resource names."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("id", _row_id(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("name", _name(512), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("retention_days", sa.Integer, nullable=True),
        sa.Column("kms_key_id", sa.String(256), nullable=True),
        sa.Column("log_group_class", sa.String(32), nullable=False),
        sa.Column("deletion_protection", sa.Boolean, nullable=False),
        sa.UniqueConstraint("account_id", "region", "name", name="uq_log_groups_key"),
    )
    op.create_table(
        "log_group_tags",
        sa.Column(
            "group_id",
            _row_id(),
            sa.ForeignKey("log_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", _name(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_table(
        "log_streams",
        sa.Column("id", _row_id(), primary_key=True, autoincrement=True),
        sa.Column("group_id", _row_id(), sa.ForeignKey("log_groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", _name(512), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("first_event_ms", sa.BigInteger, nullable=True),
        sa.Column("last_event_ms", sa.BigInteger, nullable=True),
        sa.Column("last_ingestion_ms", sa.BigInteger, nullable=True),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("group_id", "name", name="uq_log_streams_key"),
    )
    op.create_table(
        "log_events",
        sa.Column("id", _row_id(), primary_key=True, autoincrement=True),
        sa.Column("group_id", _row_id(), sa.ForeignKey("log_groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "stream_id", _row_id(), sa.ForeignKey("log_streams.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("ingestion_ms", sa.BigInteger, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_log_events_stream", "log_events", ["stream_id", "timestamp", "id"])
    op.create_index("ix_log_events_group", "log_events", ["group_id", "timestamp", "id"])


def downgrade() -> None:
    op.drop_index("ix_log_events_group", "log_events")
    op.drop_index("ix_log_events_stream", "log_events")
    op.drop_table("log_events")
    op.drop_table("log_streams")
    op.drop_table("log_group_tags")
    op.drop_table("log_groups")

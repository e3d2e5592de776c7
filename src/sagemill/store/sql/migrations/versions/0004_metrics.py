"""CloudWatch metrics: metric series, their dimensions and samples; alarm history.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
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
        "metric_series",
        sa.Column("id", _row_id(), primary_key=True, autoincrement=True),
        sa.Column("key_hash", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("namespace", _name(255), nullable=False),
        sa.Column("metric_name", _name(255), nullable=False),
        sa.Column(
            "dimensions_key", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("last_sample_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("key_hash", name="uq_metric_series_key"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_metric_series_listing", "metric_series", ["account_id", "region", "namespace", "metric_name"]
    )
    op.create_table(
        "metric_dimensions",
        sa.Column(
            "series_id",
            _row_id(),
            sa.ForeignKey("metric_series.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("name", _name(255), primary_key=True),
        sa.Column("value", _name(1024), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_metric_dimensions_value", "metric_dimensions", ["name", "value"])
    op.create_table(
        "metric_samples",
        sa.Column(
            "series_id",
            _row_id(),
            sa.ForeignKey("metric_series.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("ts", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("count", sa.Double, nullable=False),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("minimum", sa.Double, nullable=False),
        sa.Column("maximum", sa.Double, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alarm_history",
        sa.Column("item_id", _name(128), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("alarm_name", _name(255), nullable=False),
        sa.Column("alarm_type", sa.String(32), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("item_type", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_alarm_history_alarm", "alarm_history", ["account_id", "region", "alarm_name", "ts"])
    op.create_index("ix_alarm_history_time", "alarm_history", ["account_id", "region", "ts"])


def downgrade() -> None:
    op.drop_index("ix_alarm_history_time", "alarm_history")
    op.drop_index("ix_alarm_history_alarm", "alarm_history")
    op.drop_table("alarm_history")
    op.drop_table("metric_samples")
    op.drop_index("ix_metric_dimensions_value", "metric_dimensions")
    op.drop_table("metric_dimensions")
    op.drop_index("ix_metric_series_listing", "metric_series")
    op.drop_table("metric_series")

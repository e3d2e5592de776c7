"""Initial schema: accounts, access keys, resources and tags.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("access_key_id", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("arn", sa.String(2048), nullable=False, unique=True),
        sa.Column("desired", sa.Text, nullable=False),
        sa.Column("observed", sa.Text, nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("next_action_at", sa.Double, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.UniqueConstraint("account_id", "region", "kind", "name", name="uq_resources_key"),
    )
    op.create_index("ix_resources_listing", "resources", ["account_id", "region", "kind", "created_at"])
    op.create_index("ix_resources_due", "resources", ["kind", "next_action_at"])
    op.create_table(
        "tags",
        sa.Column("arn", sa.String(2048), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tags")
    op.drop_index("ix_resources_due", "resources")
    op.drop_index("ix_resources_listing", "resources")
    op.drop_table("resources")
    op.drop_table("access_keys")
    op.drop_table("accounts")

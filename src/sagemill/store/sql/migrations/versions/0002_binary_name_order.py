"""Resource names and tag keys compare by code point on PostgreSQL, as they do on SQLite.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Listings sort and page by these columns; under the database's collation (often en_US or ICU,
# case-insensitive) PostgreSQL would order names differently from SQLite, and a deployment's page
# order would depend on how its database happened to be created.
_COLUMNS = [("resources", "name", 256), ("tags", "key", 128)]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's default BINARY collation already compares by code point.
    for table, column, length in _COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(length, collation="C"),
            existing_type=sa.String(length),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in _COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(length, collation="default"),
            existing_type=sa.String(length, collation="C"),
            existing_nullable=False,
        )

"""Alembic migrations of the SQL store; self-contained, never importing the live tables."""

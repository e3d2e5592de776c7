"""The SQL adapter of the Store port (SQLite by default, PostgreSQL by URL)."""

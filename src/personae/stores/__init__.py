"""Storage: the SQL store (SQLite by default, PostgreSQL at scale) and its migrations."""

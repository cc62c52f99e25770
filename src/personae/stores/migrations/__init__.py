"""Alembic migrations of the personae schema (see env.py)."""

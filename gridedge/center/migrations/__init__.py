"""Alembic migrations of the case store; `store.migrate` runs them on start."""

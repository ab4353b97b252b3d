"""Alembic environment: the caller (store.migrate) hands over an open connection."""

from __future__ import annotations

from alembic import context

from gridedge.center.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

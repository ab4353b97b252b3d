"""Accounts that can be disabled, tokens with a creation time and a source, the audit log, dead letters.

Revision ID: 0003
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officers") as officers:
        officers.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("credentials") as credentials:
        credentials.add_column(sa.Column("created_at", sa.Double(), nullable=True))
    # Before this revision every API token came from the config file.
    op.execute("UPDATE credentials SET kind = 'config' WHERE kind = 'api'")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])
    with op.batch_alter_table("event_revisions") as revisions:
        revisions.add_column(sa.Column("snapshot_sha256", sa.String(), nullable=True))
    op.create_index("ix_event_revisions_snapshot_sha256", "event_revisions", ["snapshot_sha256"])
    _backfill_snapshots()


def _backfill_snapshots() -> None:
    """Name the snapshot of each stored revision (read from its payload, portable across databases)."""
    conn = op.get_bind()
    if "payload" not in {c["name"] for c in sa.inspect(conn).get_columns("event_revisions")}:
        return  # a foundation database that never stored payloads
    table = sa.table("event_revisions", sa.column("id"), sa.column("payload"), sa.column("snapshot_sha256"))
    rows = conn.execute(sa.select(table.c.id, table.c.payload).where(table.c.payload.like('%"snapshot"%')))
    found = []
    for row_id, payload in rows:
        snapshot = (json.loads(payload).get("evidence") or {}).get("snapshot") or {}
        if isinstance(snapshot.get("sha256"), str):
            found.append({"b_id": row_id, "sha": snapshot["sha256"]})
    if found:
        conn.execute(
            table.update().where(table.c.id == sa.bindparam("b_id")).values(snapshot_sha256=sa.bindparam("sha")),
            found,
        )


def downgrade() -> None:
    op.drop_index("ix_event_revisions_snapshot_sha256", "event_revisions")
    with op.batch_alter_table("event_revisions") as revisions:
        revisions.drop_column("snapshot_sha256")
    op.drop_table("dead_letters")
    op.drop_table("audit_log")
    op.execute("UPDATE credentials SET kind = 'api' WHERE kind = 'config'")
    with op.batch_alter_table("credentials") as credentials:
        credentials.drop_column("created_at")
    with op.batch_alter_table("officers") as officers:
        officers.drop_column("disabled")

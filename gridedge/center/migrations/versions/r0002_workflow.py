"""The six-step workflow: case state, level and deadlines, the step timeline, officers, credentials, evidence.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 WHEN 'minor' THEN 2 ELSE 3 END"


def upgrade() -> None:
    with op.batch_alter_table("cases") as cases:
        cases.add_column(sa.Column("severity_rank", sa.Integer(), nullable=False, server_default="3"))
        cases.add_column(sa.Column("state", sa.String(), nullable=False, server_default="reported"))
        cases.add_column(sa.Column("level", sa.String(), nullable=False, server_default="grid"))
        cases.add_column(sa.Column("unit", sa.String(), nullable=True))
        cases.add_column(sa.Column("state_since", sa.Double(), nullable=False, server_default="0"))
        cases.add_column(sa.Column("due_at", sa.Double(), nullable=True))
        cases.add_column(sa.Column("escalations", sa.Integer(), nullable=False, server_default="0"))
        cases.add_column(sa.Column("reopened", sa.Integer(), nullable=False, server_default="0"))
        cases.add_column(sa.Column("closed_at", sa.Double(), nullable=True))
    op.execute(f"UPDATE cases SET severity_rank = {_SEVERITY_RANK}, state_since = opened_at")
    op.create_index("ix_cases_list", "cases", ["severity_rank", sa.text("opened_at DESC")])
    op.drop_index("ix_cases_category", "cases")
    op.create_index("ix_cases_category_list", "cases", ["category", "severity_rank", sa.text("opened_at DESC")])
    op.create_index("ix_cases_state_list", "cases", ["state", "severity_rank", sa.text("opened_at DESC")])
    op.create_index("ix_cases_due", "cases", ["due_at"])
    op.create_table(
        "case_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(), sa.ForeignKey("cases.event_id"), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("before", sa.String(), nullable=False),
        sa.Column("after", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(), nullable=True),
    )
    op.create_index("ix_case_steps_event_id", "case_steps", ["event_id"])
    op.create_index("ix_case_steps_at", "case_steps", ["at"])
    op.create_table(
        "officers",
        sa.Column("username", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("jurisdiction", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("token_sha256", sa.String(), primary_key=True),
        sa.Column("username", sa.String(), sa.ForeignKey("officers.username"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=True),
    )
    op.create_table(
        "evidence_blobs",
        sa.Column("sha256", sa.String(), primary_key=True),
        sa.Column("gateway_id", sa.String(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    for table in ("evidence_blobs", "credentials", "officers", "case_steps"):
        op.drop_table(table)
    for index in ("ix_cases_due", "ix_cases_state_list", "ix_cases_category_list", "ix_cases_list"):
        op.drop_index(index, "cases")
    op.create_index("ix_cases_category", "cases", ["category"])
    with op.batch_alter_table("cases") as cases:
        for column in (
            "closed_at",
            "reopened",
            "escalations",
            "due_at",
            "state_since",
            "unit",
            "level",
            "state",
            "severity_rank",
        ):
            cases.drop_column(column)

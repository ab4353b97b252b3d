"""Cases and event revisions, as the foundation created them.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("source_status", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        *(
            sa.Column(f"{level}_{part}", sa.String(), nullable=False)
            for level in ("district", "street", "community", "grid")
            for part in ("code", "name")
        ),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("gateway_id", sa.String(), nullable=False),
        sa.Column("device_id", sa.String(), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("observed_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_cases_place", "cases", ["district_code", "street_code", "community_code", "grid_code"])
    op.create_index("ix_cases_source_status", "cases", ["source_status"])
    op.create_index("ix_cases_category", "cases", ["category"])
    op.create_table(
        "event_revisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(), sa.ForeignKey("cases.event_id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("district_code", sa.String(), nullable=False),
        sa.Column("street_code", sa.String(), nullable=False),
        sa.Column("community_code", sa.String(), nullable=False),
        sa.Column("grid_code", sa.String(), nullable=False),
        sa.Column("gateway_id", sa.String(), nullable=False),
        sa.Column("device_id", sa.String(), nullable=True),
        sa.Column("observed_at", sa.Double(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.UniqueConstraint("event_id", "seq", name="uq_event_revisions_event_seq"),
    )


def downgrade() -> None:
    op.drop_table("event_revisions")
    op.drop_table("cases")

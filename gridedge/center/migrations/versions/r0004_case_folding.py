"""Cases fold repeats of one hazard; officers' photos on workflow steps; gateways' last known status.

- `case_incidents` maps every incident (a gateway's event_id) to its case, so a revision's row no
  longer needs a case of its own id (its foreign key goes);
- `cases` gains the incident it shows, the occurrence count, when the latest occurrence started, and
  the fold key (unique while open), plus indexes for the list's search and its overdue-first order;
- `case_photos` holds pictures officers attach at a step; `gateways` the status each gateway retains.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_REVISIONS_FK = "fk_event_revisions_event_id_cases"
_LEVELS = ("district", "street", "community", "grid")
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("cases") as cases:
        cases.add_column(sa.Column("shown_event_id", sa.String(), nullable=False, server_default=""))
        cases.add_column(sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1"))
        cases.add_column(sa.Column("last_seen_at", sa.Double(), nullable=False, server_default="0"))
        cases.add_column(sa.Column("fold_key", sa.String(), nullable=True))
        cases.create_unique_constraint("uq_cases_fold_key", ["fold_key"])
    op.execute("UPDATE cases SET shown_event_id = event_id, last_seen_at = started_at")
    op.create_index("ix_cases_escalations", "cases", ["escalations"])
    # The list's order ends on the case id (stable pages), so the index does too: no sort at all.
    op.drop_index("ix_cases_list", "cases")
    op.create_index("ix_cases_list", "cases", ["severity_rank", sa.text("opened_at DESC"), "event_id"])
    op.create_index("ix_cases_device", "cases", ["device_id"])
    op.create_index("ix_cases_gateway", "cases", ["gateway_id", "opened_at"])
    op.create_table(
        "case_incidents",
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("case_id", sa.String(), sa.ForeignKey("cases.event_id"), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_case_incidents_case_id", "case_incidents", ["case_id"])
    op.execute(
        "INSERT INTO case_incidents (event_id, case_id, started_at, received_at) "
        "SELECT event_id, event_id, started_at, opened_at FROM cases"
    )
    _drop_revisions_case_key()
    op.create_table(
        "case_photos",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(), sa.ForeignKey("cases.event_id"), nullable=False),
        sa.Column("step_id", sa.Integer(), sa.ForeignKey("case_steps.id"), nullable=True),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_case_photos_event_id", "case_photos", ["event_id"])
    op.create_table(
        "gateways",
        sa.Column("gateway_id", sa.String(), primary_key=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("heartbeat_at", sa.Double(), nullable=True),
        sa.Column("changed_at", sa.Double(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        *(sa.Column(f"{level}_code", sa.String(), nullable=True) for level in _LEVELS),
        sa.Column("offline_case", sa.String(), nullable=True),
    )


def _drop_revisions_case_key() -> None:
    """A revision's incident may now belong to a case of another id. The key is unnamed on SQLite (the
    table is rebuilt without it, named here only to be dropped) and absent in a foundation database."""
    keys = sa.inspect(op.get_bind()).get_foreign_keys("event_revisions")
    if not any(k["referred_table"] == "cases" for k in keys):
        return
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("event_revisions", naming_convention=_NAMING, recreate="always") as revisions:
            revisions.drop_constraint(_REVISIONS_FK, type_="foreignkey")
        return
    for key in keys:
        if key["referred_table"] == "cases" and key["name"]:
            op.drop_constraint(key["name"], "event_revisions", type_="foreignkey")


def downgrade() -> None:
    op.drop_table("gateways")
    op.drop_table("case_photos")
    with op.batch_alter_table("event_revisions", recreate="always") as revisions:
        revisions.create_foreign_key(_REVISIONS_FK, "cases", ["event_id"], ["event_id"])
    op.drop_table("case_incidents")
    op.drop_index("ix_cases_gateway", "cases")
    op.drop_index("ix_cases_device", "cases")
    op.drop_index("ix_cases_escalations", "cases")
    op.drop_index("ix_cases_list", "cases")
    op.create_index("ix_cases_list", "cases", ["severity_rank", sa.text("opened_at DESC")])
    with op.batch_alter_table("cases") as cases:
        cases.drop_constraint("uq_cases_fold_key", type_="unique")
        for column in ("fold_key", "last_seen_at", "occurrences", "shown_event_id"):
            cases.drop_column(column)

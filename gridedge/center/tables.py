"""The case store's tables: every revision as received, and one case per incident.

Times are UTC seconds since the epoch (double precision): portable across SQLite and PostgreSQL,
sortable, and free of naive/aware datetime mix-ups. The `cases` row keeps what the source event
says now (`source_status`) beside where the six-step workflow has taken it (`state`, `level`); the
two are independent, so a source `resolved` never closes a case by itself. The schema is created
and changed by the Alembic migrations in `migrations/`, never by `create_all`.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {float: Double(), str: String()}  # noqa: RUF012 (SQLAlchemy reads it as a class attribute)


class Case(Base):
    """The latest revision (highest seq) of one incident, plus when the centre first saw it."""

    __tablename__ = "cases"

    event_id: Mapped[str] = mapped_column(primary_key=True)
    seq: Mapped[int]
    source_status: Mapped[str]
    category: Mapped[str]
    severity: Mapped[str]
    title: Mapped[str]
    district_code: Mapped[str]
    district_name: Mapped[str]
    street_code: Mapped[str]
    street_name: Mapped[str]
    community_code: Mapped[str]
    community_name: Mapped[str]
    grid_code: Mapped[str]
    grid_name: Mapped[str]
    site: Mapped[str]
    address: Mapped[str]
    gateway_id: Mapped[str]
    device_id: Mapped[str | None]
    """The device or camera that raised it."""
    started_at: Mapped[float]
    observed_at: Mapped[float]
    ended_at: Mapped[float | None]
    opened_at: Mapped[float]
    """When the centre stored the first revision it received."""
    updated_at: Mapped[float]
    """When the centre stored the revision now shown."""
    severity_rank: Mapped[int]
    """0 for critical, up to 3 for info: the case list's sort key, indexed."""
    state: Mapped[str]
    """The workflow state (workflow.CaseState)."""
    level: Mapped[str]
    """The handling level that owns it now (grid, community, street, district)."""
    unit: Mapped[str | None]
    """The unit it was dispatched to."""
    state_since: Mapped[float]
    due_at: Mapped[float | None]
    """When it rises to the next level unless it moves on; None when finished or at the top."""
    escalations: Mapped[int]
    """How many times it rose for being late: a case that rose at least once was not on time."""
    reopened: Mapped[int]
    """How many times the check sent it back to the unit."""
    closed_at: Mapped[float | None]
    shown_event_id: Mapped[str]
    """The incident whose newest revision the case shows (its latest occurrence)."""
    occurrences: Mapped[int]
    """How many incidents of the same hazard folded into this case (1 for a case of its own)."""
    last_seen_at: Mapped[float]
    """When the latest occurrence started at the source."""
    fold_key: Mapped[str | None]
    """Gateway, category and the event's `dedup_key` while the case is open and its category folds
    repeats; None once finished. Unique, so even racing replicas keep one open case per hazard."""

    __table_args__ = (
        # The place, then what an officer's counts filter on, so they read the index alone (migration 0005).
        Index(
            "ix_cases_place_state",
            "district_code",
            "street_code",
            "community_code",
            "grid_code",
            "state",
            postgresql_include=["escalations", "due_at", "category", "severity_rank"],
        ),
        # One community's (street's, district's) cases in the list's order.
        Index(
            "ix_cases_place_list",
            "district_code",
            "street_code",
            "community_code",
            "severity_rank",
            text("opened_at DESC"),
            "event_id",
        ),
        Index("ix_cases_source_status", "source_status"),
        Index("ix_cases_list", "severity_rank", text("opened_at DESC"), "event_id"),  # the list's order
        # The list filtered by category or by state, still in its order: a category is often all one
        # severity, so without these the list would walk past every more severe case to find 100.
        Index("ix_cases_category_list", "category", "severity_rank", text("opened_at DESC")),
        Index("ix_cases_state_list", "state", "severity_rank", text("opened_at DESC")),
        Index("ix_cases_due", "due_at"),
        Index("ix_cases_escalations", "escalations"),
        Index("ix_cases_device", "device_id"),
        Index("ix_cases_gateway", "gateway_id", "opened_at"),
        UniqueConstraint("fold_key", name="uq_cases_fold_key"),
    )


class CaseIncident(Base):
    """Which case an incident (a gateway's `event_id`) belongs to: its own, or the open case it folded into."""

    __tablename__ = "case_incidents"

    event_id: Mapped[str] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.event_id"), index=True)
    started_at: Mapped[float]
    received_at: Mapped[float]


class CaseStep(Base):
    """One workflow step taken on a case: what, by whom, when and why (the case's timeline)."""

    __tablename__ = "case_steps"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("cases.event_id"), index=True)
    action: Mapped[str]
    """A workflow.Action, or `escalate` when the clock raised the level."""
    before: Mapped[str]
    after: Mapped[str]
    level: Mapped[str]
    """The handling level after the step."""
    actor: Mapped[str]
    """The officer's username, or `system` for escalation."""
    at: Mapped[float] = mapped_column(index=True)
    comment: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None]


class CasePhoto(Base):
    """A picture an officer attached at a workflow step (the unit's feedback, the check)."""

    __tablename__ = "case_photos"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("cases.event_id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("case_steps.id"))
    actor: Mapped[str]
    at: Mapped[float]
    content_type: Mapped[str]
    content: Mapped[bytes] = mapped_column(LargeBinary)


class GatewayRow(Base):
    """The status a gateway retains on `gridedge/v1/status/{id}`, and where its events say it stands."""

    __tablename__ = "gateways"

    gateway_id: Mapped[str] = mapped_column(primary_key=True)
    online: Mapped[bool]
    reason: Mapped[str | None]
    """Why offline: `lost` (the last will) or `stopped`."""
    version: Mapped[str]
    status: Mapped[str] = mapped_column(Text)
    """The status JSON as published (queue figures and whatever else the gateway reports)."""
    heartbeat_at: Mapped[float | None]
    """The `ts` of the latest online status (the will carries none)."""
    changed_at: Mapped[float]
    """When the centre saw it go online or offline."""
    received_at: Mapped[float]
    district_code: Mapped[str | None]
    street_code: Mapped[str | None]
    community_code: Mapped[str | None]
    grid_code: Mapped[str | None]
    """The grid of its latest event: a gateway is in an officer's jurisdiction by where it reports from."""
    offline_case: Mapped[str | None]
    """The case raised for it being offline too long, while that is still so."""


class OfficerRow(Base):
    __tablename__ = "officers"

    username: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    role: Mapped[str]
    jurisdiction: Mapped[str]
    """Grid codes joined by '/', empty for an admin."""
    password_hash: Mapped[str]
    """argon2id, as argon2-cffi writes it."""
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    """A disabled officer cannot log in, and their sessions and tokens stop working at once."""


class Credential(Base):
    """A bearer secret: a login session (cookie) or an integration's API token. Only its hash is kept."""

    __tablename__ = "credentials"

    token_sha256: Mapped[str] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("officers.username"))
    kind: Mapped[str]
    """`session` (a login), `api` (issued in the console or CLI) or `config` (listed in the config file,
    removed when the file no longer lists it)."""
    label: Mapped[str]
    expires_at: Mapped[float | None]
    created_at: Mapped[float | None]


class AuditEntry(Base):
    """Who did what to accounts and tokens (case steps have their own timeline, `case_steps`)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(index=True)
    actor: Mapped[str]
    """An officer's username, `config` (accounts from the config file) or `cli`."""
    action: Mapped[str]
    target: Mapped[str]
    detail: Mapped[str] = mapped_column(Text)


class DeadLetter(Base):
    """A message ingest refused for good (bad characters, too large, not a grid event, a revision from
    a foreign gateway): kept for the admins, acknowledged to the broker so ingest moves on."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    received_at: Mapped[float] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(Text)
    reason: Mapped[str]
    detail: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    """The payload's full size in bytes; `payload` keeps at most its head."""
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class EvidenceBlob(Base):
    """A snapshot published on the evidence topic, stored once by its SHA-256."""

    __tablename__ = "evidence_blobs"

    sha256: Mapped[str] = mapped_column(primary_key=True)
    gateway_id: Mapped[str]
    received_at: Mapped[float]
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Revision(Base):
    """One published revision, stored once per (event_id, seq) with the payload as it arrived."""

    __tablename__ = "event_revisions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str]
    """The incident (see CaseIncident for its case)."""
    seq: Mapped[int]
    status: Mapped[str]
    category: Mapped[str]
    severity: Mapped[str]
    title: Mapped[str]
    district_code: Mapped[str]
    street_code: Mapped[str]
    community_code: Mapped[str]
    grid_code: Mapped[str]
    gateway_id: Mapped[str]
    device_id: Mapped[str | None]
    observed_at: Mapped[float]
    received_at: Mapped[float]
    """When the centre stored it: received_at - observed_at is the end-to-end latency."""
    payload: Mapped[str] = mapped_column(Text)
    """The GridEvent JSON, evidence included."""
    snapshot_sha256: Mapped[str | None] = mapped_column(index=True)
    """The snapshot it names: an officer may fetch a snapshot only through a case of theirs."""

    __table_args__ = (UniqueConstraint("event_id", "seq", name="uq_event_revisions_event_seq"),)

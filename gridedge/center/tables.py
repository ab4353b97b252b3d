"""The case store's tables: every revision as received, and one case per incident.

Times are UTC seconds since the epoch (double precision): portable across SQLite and PostgreSQL,
sortable, and free of naive/aware datetime mix-ups. The `cases` row keeps what the source event
says now (`source_status`); the six-step workflow will add its own state columns beside it.
"""

from __future__ import annotations

from sqlalchemy import Double, ForeignKey, Index, String, Text, UniqueConstraint
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

    __table_args__ = (
        Index("ix_cases_place", "district_code", "street_code", "community_code", "grid_code"),
        Index("ix_cases_source_status", "source_status"),
        Index("ix_cases_category", "category"),
    )


class Revision(Base):
    """One published revision, stored once per (event_id, seq) with the payload as it arrived."""

    __tablename__ = "event_revisions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("cases.event_id"))
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

    __table_args__ = (UniqueConstraint("event_id", "seq", name="uq_event_revisions_event_seq"),)

"""What the API shows: cases and revisions as JSON, with times as RFC 3339 UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from gridedge.center.stats import IngestStats
from gridedge.center.tables import Case, CaseStep, Revision
from gridedge.center.text import no_control_characters
from gridedge.center.workflow import Action, CaseState, next_actions
from gridedge.edge.categories import CATEGORIES
from gridedge.edge.clock import to_datetime
from gridedge.edge.event import EventStatus, GridEvent, Severity
from gridedge.edge.grid import GridCell, GridUnit, Level


class CaseView(BaseModel):
    event_id: str
    seq: int
    source_status: EventStatus
    category: str
    category_name: str
    severity: Severity
    title: str
    grid: GridCell
    site: str
    address: str
    gateway_id: str
    device_id: str | None
    started_at: datetime
    observed_at: datetime
    ended_at: datetime | None
    opened_at: datetime
    updated_at: datetime
    state: CaseState
    level: Level
    unit: str | None
    state_since: datetime
    due_at: datetime | None
    escalations: int
    reopened: int
    closed_at: datetime | None
    next_actions: list[Action]

    @classmethod
    def of(cls, row: Case) -> CaseView:
        return cls(
            event_id=row.event_id,
            seq=row.seq,
            source_status=EventStatus(row.source_status),
            category=row.category,
            category_name=CATEGORIES.get(row.category, row.category),
            severity=Severity(row.severity),
            title=row.title,
            grid=GridCell(
                district=GridUnit(code=row.district_code, name=row.district_name),
                street=GridUnit(code=row.street_code, name=row.street_name),
                community=GridUnit(code=row.community_code, name=row.community_name),
                grid=GridUnit(code=row.grid_code, name=row.grid_name),
            ),
            site=row.site,
            address=row.address,
            gateway_id=row.gateway_id,
            device_id=row.device_id,
            started_at=to_datetime(row.started_at),
            observed_at=to_datetime(row.observed_at),
            ended_at=to_datetime(row.ended_at) if row.ended_at is not None else None,
            opened_at=to_datetime(row.opened_at),
            updated_at=to_datetime(row.updated_at),
            state=CaseState(row.state),
            level=Level(row.level),
            unit=row.unit,
            state_since=to_datetime(row.state_since),
            due_at=to_datetime(row.due_at) if row.due_at is not None else None,
            escalations=row.escalations,
            reopened=row.reopened,
            closed_at=to_datetime(row.closed_at) if row.closed_at is not None else None,
            next_actions=next_actions(CaseState(row.state)),
        )


class RevisionView(BaseModel):
    seq: int
    status: EventStatus
    received_at: datetime
    latency_s: float
    """Seconds from the gateway observing the incident to the centre storing this revision."""
    event: GridEvent
    """The revision as published, evidence included."""

    @classmethod
    def of(cls, row: Revision) -> RevisionView:
        return cls(
            seq=row.seq,
            status=EventStatus(row.status),
            received_at=to_datetime(row.received_at),
            latency_s=row.received_at - row.observed_at,
            event=GridEvent.from_json(row.payload),
        )


class StepView(BaseModel):
    action: str
    before: CaseState
    after: CaseState
    level: Level
    actor: str
    at: datetime
    comment: str
    unit: str | None

    @classmethod
    def of(cls, row: CaseStep) -> StepView:
        return cls(
            action=row.action,
            before=CaseState(row.before),
            after=CaseState(row.after),
            level=Level(row.level),
            actor=row.actor,
            at=to_datetime(row.at),
            comment=row.comment,
            unit=row.unit,
        )


class CaseDetail(BaseModel):
    case: CaseView
    revisions: list[RevisionView]
    steps: list[StepView]
    """The workflow timeline: who did what, when and why."""


MAX_COMMENT = 2000
"""Characters of an officer's comment on a step."""


class ActionRequest(BaseModel):
    action: Action
    comment: Annotated[str, Field(max_length=MAX_COMMENT), AfterValidator(no_control_characters)] = ""
    unit: Annotated[str | None, Field(max_length=64)] = None


class GridCount(BaseModel):
    codes: list[str]
    names: list[str]
    open_cases: int
    escalated: int


class Health(BaseModel):
    status: str = "ok"
    broker_connected: bool


class StatsView(BaseModel):
    """Counts of the officer's jurisdiction; the ingest counters (whole city) only for admins."""

    received: int | None
    stored: int | None
    duplicates: int | None
    rejected: dict[str, int] | None
    broker_connected: bool
    revisions: int
    cases: int
    open_cases: int

    @classmethod
    def of(
        cls, stats: IngestStats, *, revisions: int, cases: int, open_cases: int, city_wide: bool = True
    ) -> StatsView:
        return cls(
            received=stats.received if city_wide else None,
            stored=stats.stored if city_wide else None,
            duplicates=stats.duplicates if city_wide else None,
            rejected=dict(stats.rejected) if city_wide else None,
            broker_connected=stats.broker_connected,
            revisions=revisions,
            cases=cases,
            open_cases=open_cases,
        )

"""The gateways an officer's grid depends on: the status each retains on `gridedge/v1/status/{id}`
(online, or offline from its last will or a clean stop, with its heartbeat and queue figures), and a
`device.offline` case for a gateway offline longer than the configured time, raised through the same
store as a device's event so it folds, escalates and is handled like one.

A gateway belongs to a jurisdiction by where its events come from (the grid of its latest case), so
an officer sees the gateways of their grid and no others; one that never reported sits with the admin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import Engine, insert, select, update

from gridedge.center.tables import Case, GatewayRow
from gridedge.edge.clock import to_datetime
from gridedge.edge.event import EventStatus, GridEvent, Severity, Source
from gridedge.edge.grid import Code, GridCell, GridUnit, Level, Location
from gridedge.edge.topics import ROOT

STATUS_FILTER = f"{ROOT}/status/+"
MAX_STATUS_BYTES = 64 * 1024
OFFLINE_CATEGORY = "device.offline"


class StatusError(ValueError):
    """A status message refused: it says why (size, JSON, fields, a gateway id that does not match)."""


class GatewayStatus(BaseModel):
    """The retained status as published; fields a newer gateway adds are kept and shown when known."""

    model_config = ConfigDict(extra="allow")

    state: Literal["online", "offline"]
    gateway_id: Code
    version: str = Field(default="", max_length=64)
    ts: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=64)


def parse_status(topic: str, payload: bytes) -> GatewayStatus:
    gateway_id = topic.rsplit("/", 1)[-1]
    if len(payload) > MAX_STATUS_BYTES:
        raise StatusError(f"status of {gateway_id}: {len(payload)} bytes, over {MAX_STATUS_BYTES}")
    try:
        status = GatewayStatus.model_validate_json(payload)
    except ValidationError as err:
        raise StatusError(f"status of {gateway_id}: {err.errors()[0]['msg']} at {err.errors()[0]['loc']}") from None
    if status.gateway_id != gateway_id:
        raise StatusError(f"status on the topic of {gateway_id} names gateway {status.gateway_id}")
    return status


def record_status(engine: Engine, status: GatewayStatus, raw: bytes, now: float) -> None:
    """Keep the latest status; `changed_at` moves only when the gateway goes online or offline."""
    online = status.state == "online"
    values: dict[str, Any] = {
        "online": online,
        "reason": status.reason,
        "version": status.version,
        "status": raw.decode("utf-8", "replace"),
        "received_at": now,
    }
    if online and status.ts is not None:
        values["heartbeat_at"] = status.ts.timestamp()
    with engine.begin() as conn:
        row = conn.execute(
            select(GatewayRow.online, GatewayRow.grid_code).where(GatewayRow.gateway_id == status.gateway_id)
        ).first()
        place = _latest_place(conn, status.gateway_id) if row is None or row.grid_code is None else None
        if place is not None:
            values.update(zip(("district_code", "street_code", "community_code", "grid_code"), place, strict=True))
        if row is None:
            conn.execute(insert(GatewayRow).values(gateway_id=status.gateway_id, changed_at=now, **values))
        else:
            if row.online != online:
                values["changed_at"] = now
            conn.execute(update(GatewayRow).where(GatewayRow.gateway_id == status.gateway_id).values(values))


def _latest_place(conn: Any, gateway_id: str) -> tuple[str, str, str, str] | None:
    row = conn.execute(
        select(Case.district_code, Case.street_code, Case.community_code, Case.grid_code)
        .where(Case.gateway_id == gateway_id)
        .order_by(Case.opened_at.desc())
        .limit(1)
    ).first()
    return tuple(row) if row is not None else None


Text = Annotated[str, Field(max_length=500)]


class SilenceView(BaseModel):
    """A silence in force on the gateway, as its status reports it: what, until when, who and why."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, Field(max_length=64)]
    rule: Text | None = None
    device: Text | None = None
    site: Text | None = None
    ends_at: float
    reason: Text = ""
    author: Text = ""


class StorageView(BaseModel):
    """The gateway's own storage: failing (disk full, read-only) while events wait in its memory."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ok: bool = True
    error: Text | None = None
    held_in_memory: int = 0


class GatewayView(BaseModel):
    gateway_id: str
    online: bool
    reason: str | None
    version: str
    heartbeat_at: datetime | None
    changed_at: datetime
    grid: str | None
    queue_depth: int | None
    dropped: int | None
    set_aside: int | None
    oldest_waiting_s: float | None
    silences: list[SilenceView]
    held: dict[str, int] = Field(description="Incidents held back by the gateway: silenced, inhibited, flood.")
    storage: StorageView | None
    camera_fps: dict[str, float]
    offline_case: str | None


def gateways(engine: Engine, scope: Sequence[str]) -> list[GatewayView]:
    """Every gateway in scope (a gateway not yet placed by an event only for the whole city), by id."""
    place = (GatewayRow.district_code, GatewayRow.street_code, GatewayRow.community_code, GatewayRow.grid_code)
    stmt = select(GatewayRow).where(*(column == code for column, code in zip(place, scope, strict=False)))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(GatewayRow.gateway_id)).all()
    return [_view(r) for r in rows]


def _view(r: Any) -> GatewayView:
    try:
        body = json.loads(r.status)
    except ValueError:
        body = {}
    queue = body.get("queue") if isinstance(body.get("queue"), dict) else {}
    dropped = queue.get("dropped")
    cameras = body.get("cameras") if isinstance(body.get("cameras"), dict) else {}
    return GatewayView(
        gateway_id=r.gateway_id,
        online=r.online,
        reason=r.reason,
        version=r.version,
        heartbeat_at=to_datetime(r.heartbeat_at) if r.heartbeat_at is not None else None,
        changed_at=to_datetime(r.changed_at),
        grid="/".join(c for c in (r.district_code, r.street_code, r.community_code, r.grid_code) if c) or None,
        queue_depth=_number(queue.get("depth")),
        dropped=sum(v for v in dropped.values() if isinstance(v, int)) if isinstance(dropped, dict) else None,
        set_aside=_number(queue.get("set_aside")),
        oldest_waiting_s=_number(queue.get("oldest_s")),
        silences=_valid(list[SilenceView], body.get("silences"), []),
        held={str(k): v for k, v in held.items() if isinstance(v, int)}
        if isinstance(held := body.get("held"), dict)
        else {},
        storage=_valid(StorageView | None, body.get("storage"), None),
        camera_fps={
            str(k): float(v["fps"])
            for k, v in cameras.items()
            if isinstance(v, dict) and isinstance(v.get("fps"), int | float)
        },
        offline_case=r.offline_case,
    )


def _valid(shape: Any, value: object, otherwise: Any) -> Any:
    """`value` as `shape` when it fits; a status is informative, so what does not fit is left out."""
    try:
        return TypeAdapter(shape).validate_python(value)
    except ValidationError:
        return otherwise


def _number(value: object) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class OfflineChange:
    """A gateway whose offline case must be raised (`event` seq 1) or resolved (seq 2)."""

    gateway_id: str
    event: GridEvent


def offline_changes(engine: Engine, now: float, after_s: float) -> list[OfflineChange]:
    """Gateways offline longer than `after_s` with no case yet, and gateways back online whose case is
    still marked: the revisions that raise or resolve their `device.offline` cases."""
    changes = []
    with engine.connect() as conn:
        late = conn.execute(
            select(GatewayRow).where(
                GatewayRow.online.is_(False), GatewayRow.offline_case.is_(None), GatewayRow.changed_at <= now - after_s
            )
        ).all()
        back = conn.execute(
            select(GatewayRow).where(GatewayRow.online.is_(True), GatewayRow.offline_case.is_not(None))
        ).all()
        for row in late:
            place = _latest_case(conn, row.gateway_id)
            if place is not None:
                changes.append(OfflineChange(row.gateway_id, offline_event(row, place, now, resolved=False)))
        for row in back:
            place = _latest_case(conn, row.gateway_id)
            if place is not None:
                changes.append(OfflineChange(row.gateway_id, offline_event(row, place, now, resolved=True)))
    return changes


def mark_offline_case(engine: Engine, gateway_id: str, event_id: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(GatewayRow).where(GatewayRow.gateway_id == gateway_id).values(offline_case=event_id))


def _latest_case(conn: Any, gateway_id: str) -> Any:
    return conn.execute(
        select(Case).where(Case.gateway_id == gateway_id).order_by(Case.opened_at.desc()).limit(1)
    ).first()


def offline_event(row: Any, place: Any, now: float, *, resolved: bool) -> GridEvent:
    """The centre's own event for a silent gateway, placed where the gateway's latest case was."""
    went = row.changed_at if not resolved else None
    event_id = row.offline_case if resolved else _offline_id(row.gateway_id, row.changed_at)
    seen = to_datetime(now)
    return GridEvent(
        event_id=event_id,
        seq=2 if resolved else 1,
        status=EventStatus.RESOLVED if resolved else EventStatus.FIRING,
        dedup_key=f"gateway-offline:{row.gateway_id}",
        category=OFFLINE_CATEGORY,
        severity=Severity.MAJOR,
        title=f"网关离线 Gateway {row.gateway_id} offline",
        description=f"last will / status: {row.reason or 'offline'}",
        grid=GridCell(
            district=GridUnit(code=place.district_code, name=place.district_name),
            street=GridUnit(code=place.street_code, name=place.street_name),
            community=GridUnit(code=place.community_code, name=place.community_name),
            grid=GridUnit(code=place.grid_code, name=place.grid_name),
        ),
        location=Location(site=place.site, address=place.address),
        source=Source(gateway_id=row.gateway_id),
        started_at=to_datetime(went) if went is not None else seen,
        observed_at=seen,
        ended_at=seen if resolved else None,
        suggested_level=Level.GRID,
    )


def _offline_id(gateway_id: str, since: float) -> str:
    return "gwoff-" + hashlib.sha256(f"{gateway_id}|{since}".encode()).hexdigest()[:32]

"""The case store: idempotent ingest of grid-event revisions and the queries officers need.

Writes are plain portable SQL (no SQLite-only statements), so the same code runs on PostgreSQL.
A duplicate revision is recognised by a lookup rather than by catching the unique-constraint error;
if two centre replicas race on the same revision, the loser's transaction fails on that constraint
and its ingest retries the batch, which then finds the revision already stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Engine, create_engine, event, func, insert, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridedge.center.tables import Base, Case, Revision
from gridedge.edge.event import EventStatus, GridEvent, Severity

CaseFilter = Literal["open", "resolved"]
"""Open: the source has not said resolved yet (the workflow will refine this)."""

_SEVERITY_RANK = sql_case(
    {s.value: rank for rank, s in enumerate(Severity)},
    value=Case.severity,
    else_=len(Severity),
)


class CaseStore:
    """Owns the database engine. Methods block: async callers run them in a thread."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self._engine: Engine = create_engine(parsed)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self._engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> None:
        """Create missing tables. Good enough until the schema first changes; migrations come then."""
        Base.metadata.create_all(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def add(self, event: GridEvent, received_at: float) -> bool:
        """Store one revision; False when (event_id, seq) was already stored."""
        return self.add_many([event], received_at)[0]

    def add_many(self, events: Sequence[GridEvent], received_at: float) -> list[bool]:
        """Store revisions in one transaction; for each, whether it was new (False: a duplicate)."""
        ids = {e.event_id for e in events}
        with self._engine.begin() as conn:
            stored: set[tuple[str, int]] = {
                (event_id, seq)
                for event_id, seq in conn.execute(
                    select(Revision.event_id, Revision.seq).where(Revision.event_id.in_(ids))
                )
            }
            known = set(conn.execute(select(Case.event_id).where(Case.event_id.in_(ids))).scalars())
            results = []
            for e in events:
                is_new = (e.event_id, e.seq) not in stored
                if is_new:
                    _apply_to_case(conn, e, received_at, exists=e.event_id in known)
                    conn.execute(insert(Revision).values(_revision_row(e, received_at)))
                    stored.add((e.event_id, e.seq))
                    known.add(e.event_id)
                results.append(is_new)
        return results

    def cases(
        self,
        status: CaseFilter | None = None,
        *,
        category: str | None = None,
        prefix: Sequence[str] = (),
        limit: int = 100,
    ) -> list[Case]:
        """Cases, most severe first and then newest; `prefix` is grid codes from the district down."""
        query = (
            select(Case)
            .where(*_filters(status, category, prefix))
            .order_by(_SEVERITY_RANK, Case.opened_at.desc())
            .limit(limit)
        )
        with Session(self._engine) as session:
            return list(session.scalars(query))

    def open_cases(self, prefix: Sequence[str] = (), limit: int = 100) -> list[Case]:
        return self.cases("open", prefix=prefix, limit=limit)

    def count_cases(self, status: CaseFilter | None = None) -> int:
        query = select(func.count()).select_from(Case).where(*_filters(status, None, ()))
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def case(self, event_id: str) -> Case | None:
        with Session(self._engine) as session:
            return session.get(Case, event_id)

    def revisions(self, event_id: str) -> list[Revision]:
        query = select(Revision).where(Revision.event_id == event_id).order_by(Revision.seq)
        with Session(self._engine) as session:
            return list(session.scalars(query))

    def count_revisions(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Revision)).scalar_one()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the console read while ingest writes; FULL sync because ingest acknowledges to the
    broker only after the commit, so a committed revision must survive a power cut."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _filters(status: CaseFilter | None, category: str | None, prefix: Sequence[str]) -> list[ColumnElement[bool]]:
    place = (Case.district_code, Case.street_code, Case.community_code, Case.grid_code)
    if len(prefix) > len(place):
        raise ValueError("a grid prefix has at most four codes: district, street, community, grid")
    filters = [column == code for column, code in zip(place, prefix, strict=False)]
    if status == "open":
        filters.append(Case.source_status != EventStatus.RESOLVED.value)
    elif status == "resolved":
        filters.append(Case.source_status == EventStatus.RESOLVED.value)
    if category is not None:
        filters.append(Case.category == category)
    return filters


def _apply_to_case(conn: Connection, e: GridEvent, received_at: float, *, exists: bool) -> None:
    """Make the case show this revision unless it already shows a newer one (out-of-order delivery)."""
    latest = _case_row(e, received_at)
    if exists:
        conn.execute(update(Case).where(Case.event_id == e.event_id, Case.seq < e.seq).values(latest))
    else:
        conn.execute(insert(Case).values({**latest, "event_id": e.event_id, "opened_at": received_at}))


def _case_row(e: GridEvent, received_at: float) -> dict[str, object]:
    g = e.grid
    return {
        "seq": e.seq,
        "source_status": e.status.value,
        "category": e.category,
        "severity": e.severity.value,
        "title": e.title,
        "district_code": g.district.code,
        "district_name": g.district.name,
        "street_code": g.street.code,
        "street_name": g.street.name,
        "community_code": g.community.code,
        "community_name": g.community.name,
        "grid_code": g.grid.code,
        "grid_name": g.grid.name,
        "site": e.location.site,
        "address": e.location.address,
        "gateway_id": e.source.gateway_id,
        "device_id": e.source.device_id or e.source.camera_id,
        "started_at": e.started_at.timestamp(),
        "observed_at": e.observed_at.timestamp(),
        "ended_at": e.ended_at.timestamp() if e.ended_at is not None else None,
        "updated_at": received_at,
    }


def _revision_row(e: GridEvent, received_at: float) -> dict[str, object]:
    district, street, community, grid = e.grid.codes()
    return {
        "event_id": e.event_id,
        "seq": e.seq,
        "status": e.status.value,
        "category": e.category,
        "severity": e.severity.value,
        "title": e.title,
        "district_code": district,
        "street_code": street,
        "community_code": community,
        "grid_code": grid,
        "gateway_id": e.source.gateway_id,
        "device_id": e.source.device_id or e.source.camera_id,
        "observed_at": e.observed_at.timestamp(),
        "received_at": received_at,
        "payload": e.to_json().decode(),
    }

"""The case store: idempotent ingest of grid-event revisions, workflow steps, escalation and queries.

Writes are plain portable SQL (no SQLite-only statements), so the same code runs on PostgreSQL.
A duplicate revision is recognised by a lookup rather than by catching the unique-constraint error;
if two centre replicas race on the same revision, the loser's transaction fails on that constraint
and its ingest retries the batch, which then finds the revision already stored.

Every read takes a `scope` (the grid codes an officer owns), so no query can forget jurisdiction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    literal_column,
    not_,
    or_,
    select,
    union,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridedge.center.access import AccessDeniedError, Officer, covers, may_act
from gridedge.center.policy import Policy, folds_repeats, starting_level, time_limit
from gridedge.center.tables import (
    Base,
    Case,
    CaseIncident,
    CasePhoto,
    CaseStep,
    DeadLetter,
    EvidenceBlob,
    GatewayRow,
    Revision,
)
from gridedge.center.text import control_character
from gridedge.center.workflow import OPEN_STATES, Action, CaseState, WorkflowError, apply, higher_level
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.event import GridEvent, Severity
from gridedge.edge.grid import Level

SEVERITY_RANK = {s.value: rank for rank, s in enumerate(Severity)}
PLACE = (Case.district_code, Case.street_code, Case.community_code, Case.grid_code)
SYSTEM = "system"
"""The actor of steps the centre takes by itself (escalation)."""


MAX_DEAD_PAYLOAD = 4096
"""Bytes of a refused payload kept: enough to see what it was, not a store for 10 MB junk."""
MAX_DEAD_TOPIC = 1024
MAX_DEAD_DETAIL = 1024


class Outcome(StrEnum):
    """What storing one revision did."""

    NEW = "new"
    DUPLICATE = "duplicate"
    FOREIGN_GATEWAY = "foreign_gateway"
    MOVED_GRID = "moved_grid"


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    topic: str
    reason: str
    detail: str
    payload: bytes


def _printable(text: str) -> str:
    """Control characters shown as `\\xNN`, so the text can be stored and read."""
    return "".join(c if control_character(c) is None else f"\\x{ord(c):02x}" for c in text)


FIRING_AT_CLOSE = "设备仍在告警时确认结案 / closed on confirmation while the source still fired"


class SourceStillFiringError(WorkflowError):
    """A close asked for while the source still fires, without the officer's confirmation."""


@dataclass(frozen=True, slots=True)
class Photo:
    """A picture an officer attaches at a step (already checked for type and size by the caller)."""

    content_type: str
    content: bytes


class CaseNotFoundError(GridEdgeError):
    """No such case in the officer's jurisdiction (the same answer whether it exists elsewhere or not)."""


@dataclass(frozen=True, slots=True)
class CaseQuery:
    """What a case list asks for; every field narrows it."""

    state: CaseState | None = None
    open_only: bool = False
    source_status: str | None = None
    category: str | None = None
    severity: Severity | None = None
    level: Level | None = None
    prefix: Sequence[str] = ()
    """Grid codes from the district down."""
    overdue_at: float | None = None
    """Only cases past their deadline at this time."""
    search: str = ""
    """A case id, a device id, or words of the address, site or title."""
    search_exact: bool = False
    """Match `search` as an id only (see CaseStore.resolve_search)."""


class CaseSort(StrEnum):
    """The case list's orders. `priority`, the default, puts late and escalated cases first, so no
    page order can push them out of sight; then the most severe, then the newest."""

    PRIORITY = "priority"
    SEVERITY = "severity"
    NEWEST = "newest"
    OLDEST = "oldest"
    DUE = "due"
    OCCURRENCES = "occurrences"
    UPDATED = "updated"


class CaseStore:
    """Owns the database engine. Methods block: async callers run them in a thread."""

    def __init__(self, url: str, policy: Policy | None = None) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(parsed)
        self.policy = policy or Policy()
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def migrate(self) -> None:
        """Bring the schema to the newest migration; a foundation database (tables, no version) is adopted."""
        config = Config()
        config.set_main_option("script_location", "gridedge.center:migrations")
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            tables = set(inspect(conn).get_table_names())
            if "cases" in tables and "alembic_version" not in tables:
                command.stamp(config, "0001")
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def refresh_statistics(self) -> None:
        """Let SQLite's planner know the tables' sizes (PostgreSQL's autovacuum does this by itself):
        without statistics it lists 100,000 cases by sorting them instead of walking the list's index.
        Sampled (analysis_limit), so it takes milliseconds whatever the size."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")

    # ingest

    def add(self, event: GridEvent, received_at: float) -> bool:
        """Store one revision; False when (event_id, seq) was already stored or it was refused."""
        return self.add_many([event], received_at)[0] is Outcome.NEW

    def add_many(self, events: Sequence[GridEvent], received_at: float) -> list[Outcome]:
        """Store revisions in one transaction; for each, whether it was new, a duplicate, or refused.

        An incident belongs to the gateway that sent its first revision and stays in its grid: a
        revision from another gateway, or naming another grid, is refused and changes nothing (an
        incident folded into a case has the case's gateway and grid: they are part of the fold key).
        Each statement runs once for the whole batch (on PostgreSQL one INSERT per table, `insert_rows`),
        so a batch costs a few round trips whatever its size."""
        ids = {e.event_id for e in events}
        with self.engine.begin() as conn:
            stored: set[tuple[str, int]] = {
                (event_id, seq)
                for event_id, seq in conn.execute(
                    select(Revision.event_id, Revision.seq).where(Revision.event_id.in_(ids))
                )
            }
            incidents = (
                select(CaseIncident.event_id, CaseIncident.case_id, Case.gateway_id, *PLACE)
                .join(Case, Case.event_id == CaseIncident.case_id)
                .where(CaseIncident.event_id.in_(ids))
            )
            known: dict[str, str] = {}
            owners: dict[str, tuple[str, tuple[str, ...]]] = {}
            for event_id, case_id, gateway_id, *codes in conn.execute(incidents):
                known[event_id] = case_id
                owners[event_id] = (gateway_id, tuple(codes))
            results, fresh = [], []
            for e in events:
                owner = owners.setdefault(e.event_id, (e.source.gateway_id, e.grid.codes()))
                if owner[0] != e.source.gateway_id:
                    results.append(Outcome.FOREIGN_GATEWAY)
                elif owner[1] != e.grid.codes():
                    results.append(Outcome.MOVED_GRID)
                elif (e.event_id, e.seq) in stored:
                    results.append(Outcome.DUPLICATE)
                else:
                    fresh.append(e)
                    stored.add((e.event_id, e.seq))
                    results.append(Outcome.NEW)
            if fresh:
                self._apply_to_cases(conn, fresh, known, received_at)
                insert_rows(conn, Revision, [_revision_row(e, received_at) for e in fresh])
        return results

    def add_dead_letters(self, letters: Sequence[DeadLetterRow], received_at: float) -> int:
        """Keep refused messages for the admins (payloads cut to their head); how many."""
        rows = [
            {
                "received_at": received_at,
                "topic": _printable(d.topic)[:MAX_DEAD_TOPIC],
                "reason": d.reason,
                "detail": _printable(d.detail)[:MAX_DEAD_DETAIL],
                "size": len(d.payload),
                "payload": d.payload[:MAX_DEAD_PAYLOAD],
            }
            for d in letters
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(DeadLetter), rows)
        return len(rows)

    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
        """Newest first; for admins only (they hold whatever a gateway sent, from any grid)."""
        stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit).offset(offset)
        with Session(self.engine) as session:
            return list(session.scalars(stmt))

    def count_dead_letters(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one()

    def purge_dead_letters(self, before: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(DeadLetter).where(DeadLetter.received_at < before)).rowcount

    def _apply_to_cases(
        self, conn: Connection, fresh: list[GridEvent], known: dict[str, str], received_at: float
    ) -> None:
        """Give each new incident a case (its own, or the open case of the same hazard it folds into),
        then make each case show its latest occurrence's newest revision unless it already shows a newer
        one (out-of-order delivery). The source's status never moves the workflow."""
        latest: dict[str, GridEvent] = {}
        for e in fresh:
            if e.event_id not in latest or e.seq > latest[e.event_id].seq:
                latest[e.event_id] = e
        arriving = sorted((e for event_id, e in latest.items() if event_id not in known), key=lambda e: e.started_at)
        folded = self._place_incidents(conn, arriving, received_at)
        for case_id, occurrences in folded.items():
            newest = max(occurrences, key=lambda e: e.started_at)
            conn.execute(
                update(Case).where(Case.event_id == case_id).values(occurrences=Case.occurrences + len(occurrences))
            )
            conn.execute(
                update(Case)
                .where(Case.event_id == case_id, Case.last_seen_at <= newest.started_at.timestamp())
                .values(_shown_row(newest, received_at))
            )
        shown = [
            {**_shown_row(e, received_at), "b_case_id": known[event_id], "b_event_id": event_id, "b_seq": e.seq}
            for event_id, e in latest.items()
            if event_id in known
        ]
        if shown:
            newer = update(Case).where(
                Case.event_id == bindparam("b_case_id"),
                Case.shown_event_id == bindparam("b_event_id"),
                Case.seq < bindparam("b_seq"),
            )
            conn.execute(newer, shown)

    def _place_incidents(
        self, conn: Connection, arriving: list[GridEvent], received_at: float
    ) -> dict[str, list[GridEvent]]:
        """Open a case for each incident that does not fold; the rest by the case they fold into."""
        keys = {e.event_id: fold_key(e) for e in arriving if folds_repeats(self.policy, e.category)}
        open_cases: dict[str, str] = {}
        if keys:
            stmt = select(Case.fold_key, Case.event_id).where(Case.fold_key.in_(set(keys.values())))
            open_cases = {key: case_id for key, case_id in conn.execute(stmt) if key is not None}
        now = received_at
        opened, incidents = [], []
        folded: dict[str, list[GridEvent]] = {}
        for e in arriving:
            key = keys.get(e.event_id)
            case_id = open_cases.get(key) if key is not None else None
            if case_id is None:
                case_id = e.event_id
                opened.append(self._new_case(e, received_at, key))
                if key is not None:
                    open_cases[key] = case_id
            else:
                folded.setdefault(case_id, []).append(e)
            incidents.append(
                {"event_id": e.event_id, "case_id": case_id, "started_at": e.started_at.timestamp(), "received_at": now}
            )
        if opened:
            insert_rows(conn, Case, opened)
            _place_gateways(conn, opened)
        if incidents:
            insert_rows(conn, CaseIncident, incidents)
        return folded

    def _new_case(self, e: GridEvent, received_at: float, key: str | None) -> dict[str, object]:
        level = starting_level(self.policy, e.category, e.suggested_level)
        limit = time_limit(self.policy, e.category, CaseState.REPORTED)
        return {
            **_case_row(e, received_at),
            "event_id": e.event_id,
            "shown_event_id": e.event_id,
            "occurrences": 1,
            "last_seen_at": e.started_at.timestamp(),
            "fold_key": key,
            "opened_at": received_at,
            "state": CaseState.REPORTED.value,
            "level": level.value,
            "unit": None,
            "state_since": received_at,
            "due_at": received_at + limit if limit is not None else None,
            "escalations": 0,
            "reopened": 0,
            "closed_at": None,
        }

    # workflow

    def act(
        self,
        officer: Officer,
        event_id: str,
        action: Action,
        *,
        now: float,
        comment: str = "",
        unit: str | None = None,
        photos: Sequence[Photo] = (),
        confirm_source_firing: bool = False,
    ) -> Case:
        """Take one workflow step as `officer`, with the photos taken for it; WorkflowError,
        AccessDeniedError or CaseNotFoundError say why not. Closing a case whose source still fires needs
        `confirm_source_firing`, and the step records that it was closed so."""
        with Session(self.engine) as session, session.begin():
            case = session.scalars(select(Case).where(Case.event_id == event_id).with_for_update()).one_or_none()
            if case is None or not covers(officer, _codes(case)):
                raise CaseNotFoundError(f"no case {event_id} in your jurisdiction")
            level = Level(case.level)
            if not may_act(officer, _codes(case), level):
                raise AccessDeniedError(
                    f"case {event_id} is handled at {level.value} level, above yours ({officer.level})"
                )
            if action is Action.DISPATCH and unit and unit not in {u.code for u in self.policy.units}:
                raise WorkflowError(f"no unit {unit!r}; known: {', '.join(u.code for u in self.policy.units)}")
            step = apply(CaseState(case.state), action, comment=comment, unit=unit)
            if action is Action.CLOSE and case.source_status != "resolved":
                if not confirm_source_firing:
                    raise SourceStillFiringError(
                        f"case {event_id}: its source still fires ({case.source_status}); confirm to close it anyway"
                    )
                step = replace(step, comment=f"{step.comment} [{FIRING_AT_CLOSE}]".strip())
            limit = time_limit(self.policy, case.category, step.after) if step.after in OPEN_STATES else None
            changes: dict[str, Any] = {
                "state": step.after.value,
                "state_since": now,
                "due_at": now + limit if limit is not None else None,
            }
            if step.unit is not None:
                changes["unit"] = step.unit
            if action is Action.SEND_BACK:
                changes["reopened"] = Case.reopened + 1
            if step.after is CaseState.CLOSED:
                changes["closed_at"] = now
            if step.after not in OPEN_STATES:
                changes["fold_key"] = None  # a finished case takes no more occurrences
            # Only from the state the step was decided on: SQLite has no row lock, so of two officers
            # pressing buttons at once the second finds the case moved instead of stepping it twice.
            moved = session.execute(
                update(Case)
                .where(Case.event_id == event_id, Case.state == step.before.value)
                .values(changes)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise WorkflowError(f"case {event_id} changed meanwhile; reload it and try again")
            taken = CaseStep(
                event_id=event_id,
                action=action.value,
                before=step.before.value,
                after=step.after.value,
                level=case.level,
                actor=officer.username,
                at=now,
                comment=step.comment,
                unit=step.unit,
            )
            session.add(taken)
            session.flush()
            for photo in photos:
                session.add(
                    CasePhoto(
                        event_id=event_id,
                        step_id=taken.id,
                        actor=officer.username,
                        at=now,
                        content_type=photo.content_type,
                        content=photo.content,
                    )
                )
            session.flush()
            session.refresh(case)
            session.expunge(case)
            return case

    def escalate_overdue(self, now: float) -> list[str]:
        """Raise every late open case one level, restarting its clock for the new owner; the ids raised.

        A late case already at the district stays there, marked late, with no further deadline."""
        raised = []
        with Session(self.engine) as session, session.begin():
            late = session.scalars(
                select(Case).where(Case.due_at <= now, Case.state.in_([s.value for s in OPEN_STATES])).with_for_update()
            )
            for case in late:
                before = Level(case.level)
                after = higher_level(before)
                state = CaseState(case.state)
                limit = time_limit(self.policy, case.category, state)
                case.escalations += 1
                case.due_at = now + limit if after is not None and limit is not None else None
                if after is not None:
                    case.level = after.value
                    raised.append(case.event_id)
                session.add(
                    CaseStep(
                        event_id=case.event_id,
                        action="escalate",
                        before=state.value,
                        after=state.value,
                        level=case.level,
                        actor=SYSTEM,
                        at=now,
                        comment=f"not progressed in time: {before.value} -> {case.level}",
                        unit=case.unit,
                    )
                )
        return raised

    # evidence

    def add_evidence(self, blobs: Sequence[tuple[str, str, bytes]], received_at: float) -> int:
        """Keep snapshots (sha256, gateway_id, bytes) not yet stored; how many were new."""
        with self.engine.begin() as conn:
            have = set(
                conn.execute(
                    select(EvidenceBlob.sha256).where(EvidenceBlob.sha256.in_({sha for sha, _, _ in blobs}))
                ).scalars()
            )
            rows, seen = [], set(have)
            for sha, gateway_id, content in blobs:
                if sha not in seen:
                    seen.add(sha)
                    rows.append(
                        {"sha256": sha, "gateway_id": gateway_id, "received_at": received_at, "content": content}
                    )
            if rows:
                conn.execute(insert(EvidenceBlob), rows)
        return len(rows)

    def evidence(self, scope: Sequence[str], sha256: str) -> bytes:
        """A snapshot, if a revision of a case in scope names it and the gateway of that case published
        it; else CaseNotFoundError. Decided per case, so a gateway serving two grids leaks nothing."""
        stmt = (
            select(EvidenceBlob.content)
            .join(Revision, Revision.snapshot_sha256 == EvidenceBlob.sha256)
            .join(CaseIncident, CaseIncident.event_id == Revision.event_id)
            .join(Case, Case.event_id == CaseIncident.case_id)
            .where(EvidenceBlob.sha256 == sha256, EvidenceBlob.gateway_id == Case.gateway_id, *place_filter(scope))
            .limit(1)
        )
        with self.engine.connect() as conn:
            content = conn.execute(stmt).scalar_one_or_none()
        if content is None:
            raise CaseNotFoundError(f"no snapshot {sha256} in your jurisdiction")
        return content

    # reads, always within a scope

    def cases(
        self,
        scope: Sequence[str],
        query: CaseQuery | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        sort: CaseSort = CaseSort.PRIORITY,
        now: float | None = None,
        late_total: int | None = None,
    ) -> list[Case]:
        """One page of cases in `sort` order (`now` decides which are late for the priority order;
        `late_total`, when the caller has counted them with `count_late`, saves counting them again)."""
        where = case_filters(scope, query or CaseQuery())
        with Session(self.engine) as session:
            if sort is not CaseSort.PRIORITY:
                stmt = select(Case).where(*where).order_by(*sort_order(sort)).limit(limit).offset(offset)
                return list(session.scalars(stmt))
            # Late cases first, then the rest, each in the indexed severity order: two bounded index walks
            # instead of sorting every case in scope by an expression.
            late = late_filter(now if now is not None else time.time())
            severity = sort_order(CaseSort.SEVERITY)
            if late_total is None:
                late_total = session.scalar(select(func.count()).select_from(Case).where(*where, late)) or 0
            page: list[Case] = []
            if offset < late_total:
                first = select(Case).where(*where, late).order_by(*severity).limit(limit).offset(offset)
                page += session.scalars(first)
            wanted = limit - len(page)
            if wanted > 0:
                rest = select(Case).where(*where, not_(late)).order_by(*severity)
                page += session.scalars(rest.limit(wanted).offset(max(0, offset - late_total)))
            return page

    def resolve_search(self, scope: Sequence[str], query: CaseQuery) -> CaseQuery:
        """A search that names a case, incident or device exactly looks no further: ids are indexed,
        while words in addresses mean reading every case in scope."""
        if not query.search.strip() or query.search_exact:
            return query
        exact = replace(query, search_exact=True)
        stmt = select(Case.event_id).where(*case_filters(scope, exact)).limit(1)
        with self.engine.connect() as conn:
            return exact if conn.execute(stmt).first() is not None else query

    def count_open_and_all(self, scope: Sequence[str]) -> tuple[int, int]:
        """Open cases and all cases in scope, in one pass."""
        is_open = Case.state.in_([s.value for s in OPEN_STATES])
        stmt = select(func.count(), func.sum(sql_case((is_open, 1), else_=0))).where(*place_filter(scope))
        with self.engine.connect() as conn:
            everything, open_ = conn.execute(stmt).one()
        return int(open_ or 0), int(everything)

    def count_late(self, scope: Sequence[str], query: CaseQuery, now: float) -> int:
        """How many of the cases `query` matches are late or escalated (listed first by default)."""
        stmt = select(func.count()).select_from(Case).where(*case_filters(scope, query), late_filter(now))
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar_one()

    def count_cases(self, scope: Sequence[str] = (), query: CaseQuery | None = None) -> int:
        stmt = select(func.count()).select_from(Case).where(*case_filters(scope, query or CaseQuery()))
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar_one()

    def case(self, scope: Sequence[str], event_id: str) -> Case:
        """The case by its id or the id of any incident folded into it; the jurisdiction is in the query."""
        by_incident = select(CaseIncident.case_id).where(CaseIncident.event_id == event_id).scalar_subquery()
        stmt = select(Case).where(or_(Case.event_id == event_id, Case.event_id == by_incident), *place_filter(scope))
        with Session(self.engine) as session:
            case = session.scalars(stmt.limit(1)).one_or_none()
        if case is None:
            raise CaseNotFoundError(f"no case {event_id} in your jurisdiction")
        return case

    def revisions(self, scope: Sequence[str], event_id: str) -> list[Revision]:
        """Every revision of every incident of the case, incident by incident, each in seq order; none
        when the case is outside `scope` (the jurisdiction is in the query)."""
        stmt = (
            select(Revision)
            .join(CaseIncident, CaseIncident.event_id == Revision.event_id)
            .join(Case, Case.event_id == CaseIncident.case_id)
            .where(CaseIncident.case_id == event_id, *place_filter(scope))
            .order_by(CaseIncident.started_at, CaseIncident.event_id, Revision.seq)
        )
        with Session(self.engine) as session:
            return list(session.scalars(stmt))

    def steps(self, scope: Sequence[str], event_id: str) -> list[CaseStep]:
        stmt = (
            select(CaseStep)
            .join(Case, Case.event_id == CaseStep.event_id)
            .where(CaseStep.event_id == event_id, *place_filter(scope))
            .order_by(CaseStep.at, CaseStep.id)
        )
        with Session(self.engine) as session:
            return list(session.scalars(stmt))

    def count_revisions(self, scope: Sequence[str] = ()) -> int:
        stmt = select(func.count()).select_from(Revision)
        if scope:
            stmt = (
                stmt.join(CaseIncident, CaseIncident.event_id == Revision.event_id)
                .join(Case, Case.event_id == CaseIncident.case_id)
                .where(*place_filter(scope))
            )
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar_one()

    def open_counts(self, scope: Sequence[str]) -> list[tuple[tuple[str, ...], tuple[str, ...], int, int]]:
        """Per grid in scope: (codes, names, open cases, overdue-marked cases), for the grid tree view."""
        names = (Case.district_name, Case.street_name, Case.community_name, Case.grid_name)
        stmt = (
            select(*PLACE, *names, func.count(), func.sum(Case.escalations))
            .where(*case_filters(scope, CaseQuery(open_only=True)))
            .group_by(*PLACE, *names)
            .order_by(*PLACE)
        )
        with self.engine.connect() as conn:
            return [(tuple(r[:4]), tuple(r[4:8]), int(r[8]), int(r[9] or 0)) for r in conn.execute(stmt)]


def insert_rows(conn: Connection, table: type[Base], rows: Sequence[dict[str, object]]) -> None:
    """Insert rows that all have the same keys. On PostgreSQL as ONE statement reading the rows from one
    JSON parameter (`json_populate_recordset` types each field by the table's column): an executemany
    sends one INSERT per row (psycopg pipelines them, but the server parses, binds and runs each one),
    which cost ingest three statements per event."""
    if conn.dialect.name != "postgresql" or len(rows) < 2:
        conn.execute(insert(table), rows)
        return
    names = list(rows[0])
    name = table.__tablename__
    source = func.json_populate_recordset(literal_column(f"NULL::{name}"), bindparam("rows", rows, type_=JSON))
    conn.execute(insert(table).from_select(names, select(*source.table_valued(*names).c)))


def _place_gateways(conn: Connection, opened: list[dict[str, object]]) -> None:
    """A gateway whose status came before any case of it is placed in the grid by its first case."""
    places = {c["gateway_id"]: {k: c[k] for k in _PLACE_KEYS} for c in opened}
    stmt = (
        update(GatewayRow)
        .where(GatewayRow.gateway_id == bindparam("b_gateway_id"), GatewayRow.grid_code.is_(None))
        .values({k: bindparam(k) for k in _PLACE_KEYS})
    )
    conn.execute(stmt, [{"b_gateway_id": gw, **place} for gw, place in places.items()])


_PLACE_KEYS = ("district_code", "street_code", "community_code", "grid_code")


def _codes(case: Case) -> tuple[str, str, str, str]:
    return (case.district_code, case.street_code, case.community_code, case.grid_code)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the console read while ingest writes; FULL sync because ingest acknowledges to the
    broker only after the commit, so a committed revision must survive a power cut."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def place_filter(codes: Sequence[str]) -> list[ColumnElement[bool]]:
    if len(codes) > len(PLACE):
        raise ValueError("a grid prefix has at most four codes: district, street, community, grid")
    return [column == code for column, code in zip(PLACE, codes, strict=False)]


def case_filters(scope: Sequence[str], q: CaseQuery) -> list[ColumnElement[bool]]:
    filters = place_filter(scope) + place_filter(q.prefix)
    if q.state is not None:
        filters.append(Case.state == q.state.value)
    if q.open_only:
        filters.append(Case.state.in_([s.value for s in OPEN_STATES]))
    if q.source_status is not None:
        filters.append(Case.source_status == q.source_status)
    if q.category is not None:
        filters.append(Case.category == q.category)
    if q.severity is not None:
        filters.append(Case.severity_rank == SEVERITY_RANK[q.severity.value])  # the indexed twin of `severity`
    if q.level is not None:
        filters.append(Case.level == q.level.value)
    if q.overdue_at is not None:
        filters.append(Case.due_at <= q.overdue_at)
    if words := q.search.strip():
        filters.append(_exact_match(words) if q.search_exact else _text_match(words))
    return filters


def _exact_match(words: str) -> ColumnElement[bool]:
    """A case id, the id of an incident folded into a case, or a device id: all indexed lookups."""
    ids = union(
        select(literal(words)),
        select(Case.event_id).where(Case.device_id == words),
        select(CaseIncident.case_id).where(CaseIncident.event_id == words),
    )
    return Case.event_id.in_(ids)  # one key lookup per id, where an OR of the three reads every case


def _text_match(words: str) -> ColumnElement[bool]:
    pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(
        _exact_match(words),
        Case.address.ilike(pattern, escape="\\"),
        Case.site.ilike(pattern, escape="\\"),
        Case.title.ilike(pattern, escape="\\"),
    )


def late_filter(now: float) -> ColumnElement[bool]:
    """Cases that rose for being late or are past their deadline now (the escalation round follows)."""
    return or_(Case.escalations > 0, Case.due_at <= now)


def sort_order(sort: CaseSort) -> list[Any]:
    """ORDER BY for a sort other than priority; every order ends on the case id so pages never overlap or skip."""
    orders: dict[CaseSort, list[Any]] = {
        CaseSort.PRIORITY: [Case.severity_rank, Case.opened_at.desc(), Case.event_id],
        CaseSort.SEVERITY: [Case.severity_rank, Case.opened_at.desc(), Case.event_id],
        CaseSort.NEWEST: [Case.opened_at.desc(), Case.event_id],
        CaseSort.OLDEST: [Case.opened_at, Case.event_id],
        CaseSort.DUE: [Case.due_at.is_(None), Case.due_at, Case.event_id],
        CaseSort.OCCURRENCES: [Case.occurrences.desc(), Case.opened_at.desc(), Case.event_id],
        CaseSort.UPDATED: [Case.updated_at.desc(), Case.event_id],
    }
    return orders[sort]


def _case_row(e: GridEvent, received_at: float) -> dict[str, object]:
    g = e.grid
    return {
        "seq": e.seq,
        "source_status": e.status.value,
        "category": e.category,
        "severity": e.severity.value,
        "severity_rank": SEVERITY_RANK[e.severity.value],
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


def fold_key(e: GridEvent) -> str:
    """The hazard an incident is about: the same gateway, grid, category and the gateway's `dedup_key`.
    The grid is part of it so that folding never moves an incident into another jurisdiction's case."""
    return "\x1f".join((e.source.gateway_id, *e.grid.codes(), e.category, e.dedup_key))


def _shown_row(e: GridEvent, received_at: float) -> dict[str, object]:
    """What a case takes from the revision it shows; place, gateway and device stay those of its first event."""
    return {
        "shown_event_id": e.event_id,
        "seq": e.seq,
        "source_status": e.status.value,
        "severity": e.severity.value,
        "severity_rank": SEVERITY_RANK[e.severity.value],
        "title": e.title,
        "observed_at": e.observed_at.timestamp(),
        "ended_at": e.ended_at.timestamp() if e.ended_at is not None else None,
        "last_seen_at": e.started_at.timestamp(),
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
        "snapshot_sha256": e.evidence.snapshot.sha256 if e.evidence.snapshot else None,
        "payload": e.to_json().decode(),
    }

"""The case store on SQLite and PostgreSQL: idempotent ingest, workflow steps, escalation, migrations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from gridedge.center.access import AccessDeniedError, Officer, Role
from gridedge.center.store import CaseNotFoundError, CaseQuery, CaseStore, Outcome
from gridedge.center.workflow import Action, CaseState, WorkflowError
from gridedge.edge.clock import FakeClock
from gridedge.edge.event import EventStatus, Severity
from gridedge.edge.grid import Level
from tests.center.conftest import POLICY
from tests.center.events import make_event

GRID1 = Officer("grid1", "Wang", Role.GRID, ("D01", "S01", "C01", "G01"))
GRID2 = Officer("grid2", "Li", Role.GRID, ("D01", "S01", "C01", "G02"))
COMMUNITY = Officer("comm1", "Zhang", Role.COMMUNITY, ("D01", "S01", "C01"))
STREET = Officer("street1", "Zhao", Role.STREET, ("D01", "S01"))
CITY: tuple[str, ...] = ()
SHOP = "street_order.outside_shop_operation"


def test_a_first_revision_opens_a_reported_case(any_store: CaseStore) -> None:
    assert any_store.add(make_event(category=SHOP, severity=Severity.MINOR), received_at=1000.0)
    case = any_store.case(CITY, "evt-0000001")
    assert (case.seq, case.source_status, case.opened_at, case.updated_at) == (1, "firing", 1000.0, 1000.0)
    assert (case.street_code, case.street_name, case.site) == ("S01", "新街口街道", "No. 3 e-bike shed")
    assert (case.state, case.level, case.due_at) == ("reported", "grid", 1000.0 + 1800)


def test_categories_that_are_never_small_start_higher_with_their_own_limits(any_store: CaseStore) -> None:
    any_store.add(make_event(), received_at=1000.0)
    case = any_store.case(CITY, "evt-0000001")
    assert (case.level, case.due_at) == ("community", 1300.0)


def test_a_duplicate_revision_is_stored_once(any_store: CaseStore) -> None:
    assert any_store.add(make_event(), received_at=1000.0)
    assert not any_store.add(make_event(), received_at=1001.0)
    assert any_store.add_many([make_event(seq=2), make_event(seq=2)], received_at=1002.0) == [
        Outcome.NEW,
        Outcome.DUPLICATE,
    ]
    assert any_store.count_revisions() == 2
    case = any_store.case(CITY, "evt-0000001")
    assert (case.seq, case.opened_at, case.updated_at) == (2, 1000.0, 1002.0)


def test_an_older_revision_arriving_late_is_kept_but_does_not_win(any_store: CaseStore) -> None:
    any_store.add(make_event(seq=3, status=EventStatus.RESOLVED), received_at=1000.0)
    assert any_store.add(make_event(seq=2, status=EventStatus.UPDATE), received_at=1001.0)
    case = any_store.case(CITY, "evt-0000001")
    assert (case.seq, case.source_status, case.updated_at) == (3, "resolved", 1000.0)
    assert [r.seq for r in any_store.revisions(CITY, "evt-0000001")] == [2, 3]


def test_a_source_resolved_attaches_but_does_not_close_the_case(any_store: CaseStore) -> None:
    any_store.add(make_event(), received_at=1000.0)
    any_store.act(COMMUNITY, "evt-0000001", Action.VERIFY, now=1010.0)
    any_store.add(make_event(seq=2, status=EventStatus.RESOLVED), received_at=1020.0)
    case = any_store.case(CITY, "evt-0000001")
    assert (case.source_status, case.state) == ("resolved", "filed")
    assert [c.event_id for c in any_store.cases(CITY, CaseQuery(open_only=True))] == ["evt-0000001"]
    assert any_store.count_cases(CITY, CaseQuery(source_status="resolved")) == 1


def test_six_steps_are_recorded_with_who_when_and_why(any_store: CaseStore) -> None:
    any_store.add(make_event(), received_at=1000.0)
    any_store.add(make_event(seq=2, status=EventStatus.RESOLVED), received_at=1500.0)  # the source stopped
    steps = [
        (Action.VERIFY, "", None),
        (Action.DISPATCH, "", "fire-1"),
        (Action.HANDLE, "charger unplugged, shed ventilated", None),
        (Action.SEND_BACK, "photo missing", None),
        (Action.HANDLE, "photo attached", None),
        (Action.CLOSE, "", None),
        (Action.EVALUATE, "good", None),
    ]
    for i, (action, comment, unit) in enumerate(steps):
        any_store.act(COMMUNITY, "evt-0000001", action, now=2000.0 + i, comment=comment, unit=unit)
    case = any_store.case(CITY, "evt-0000001")
    assert (case.state, case.unit, case.reopened, case.closed_at, case.due_at) == (
        "evaluated",
        "fire-1",
        1,
        2005.0,
        None,
    )
    timeline = [(s.action, s.before, s.after, s.actor, s.at, s.comment) for s in any_store.steps(CITY, "evt-0000001")]
    assert timeline[0] == ("verify", "reported", "filed", "comm1", 2000.0, "")
    assert timeline[3] == ("send_back", "handled", "dispatched", "comm1", 2003.0, "photo missing")
    assert [t[0] for t in timeline] == [a.value for a, _, _ in steps]


def test_illegal_steps_change_nothing(any_store: CaseStore) -> None:
    any_store.add(make_event(), received_at=1000.0)
    with pytest.raises(WorkflowError, match="cannot close a case that is reported; allowed: verify, reject"):
        any_store.act(COMMUNITY, "evt-0000001", Action.CLOSE, now=1001.0)
    any_store.act(COMMUNITY, "evt-0000001", Action.VERIFY, now=1001.0)
    with pytest.raises(WorkflowError, match="no unit 'nobody'"):
        any_store.act(COMMUNITY, "evt-0000001", Action.DISPATCH, now=1002.0, unit="nobody")
    assert any_store.case(CITY, "evt-0000001").state == "filed"
    assert len(any_store.steps(CITY, "evt-0000001")) == 1


def test_officers_act_only_in_their_grid_and_at_most_their_level(any_store: CaseStore) -> None:
    any_store.add(make_event(category=SHOP, severity=Severity.MINOR), received_at=1000.0)
    with pytest.raises(CaseNotFoundError, match="in your jurisdiction"):
        any_store.act(GRID2, "evt-0000001", Action.VERIFY, now=1001.0)
    with pytest.raises(CaseNotFoundError):
        any_store.case(GRID2.jurisdiction, "evt-0000001")
    assert any_store.cases(GRID2.jurisdiction) == []
    any_store.add(make_event("evt-fire-001"), received_at=1000.0)  # starts at community level
    with pytest.raises(AccessDeniedError, match="handled at community level"):
        any_store.act(GRID1, "evt-fire-001", Action.VERIFY, now=1001.0)
    assert any_store.act(GRID1, "evt-0000001", Action.VERIFY, now=1001.0).state == "filed"


def test_a_late_case_rises_one_level_per_limit_on_a_fake_clock(any_store: CaseStore) -> None:
    clock = FakeClock(10_000.0)
    any_store.add(make_event(category=SHOP, severity=Severity.MINOR), received_at=clock.now())
    clock.advance(1799)
    assert any_store.escalate_overdue(clock.now()) == []
    clock.advance(1)
    assert any_store.escalate_overdue(clock.now()) == ["evt-0000001"]
    case = any_store.case(CITY, "evt-0000001")
    assert (case.level, case.escalations, case.due_at) == ("community", 1, clock.now() + 1800)
    # The community owns it now; the grid officer only watches.
    with pytest.raises(AccessDeniedError):
        any_store.act(GRID1, "evt-0000001", Action.VERIFY, now=clock.now())
    assert [c.event_id for c in any_store.cases(COMMUNITY.jurisdiction, CaseQuery(level=Level.COMMUNITY))] == [
        "evt-0000001"
    ]
    for level in ("street", "district"):
        clock.advance(1800)
        any_store.escalate_overdue(clock.now())
        assert any_store.case(CITY, "evt-0000001").level == level
    clock.advance(1800)
    assert any_store.escalate_overdue(clock.now()) == []  # the top: marked late, no further deadline
    case = any_store.case(CITY, "evt-0000001")
    assert (case.level, case.escalations, case.due_at) == ("district", 4, None)
    assert [s.actor for s in any_store.steps(CITY, "evt-0000001")] == ["system"] * 4


def test_a_step_in_time_restarts_the_clock_for_the_next_step(any_store: CaseStore) -> None:
    clock = FakeClock(10_000.0)
    any_store.add(make_event(), received_at=clock.now())  # smoke alarm: 300 s to verify, 600 s to dispatch
    clock.advance(299)
    any_store.act(COMMUNITY, "evt-0000001", Action.VERIFY, now=clock.now())
    clock.advance(599)
    assert any_store.escalate_overdue(clock.now()) == []
    assert any_store.cases(CITY, CaseQuery(overdue_at=clock.now())) == []
    clock.advance(1)
    assert [c.event_id for c in any_store.cases(CITY, CaseQuery(overdue_at=clock.now()))] == ["evt-0000001"]


def test_cases_are_filtered_and_ordered_by_severity(any_store: CaseStore) -> None:
    any_store.add_many(
        [
            make_event("evt-minor-1", severity=Severity.MINOR, category=SHOP),
            make_event("evt-crit-01", codes=("D01", "S02", "C07", "G01"), gateway_id="gw-02"),
            make_event("evt-info-01", severity=Severity.INFO, category="device.low_battery"),
        ],
        received_at=1000.0,
    )
    assert [c.event_id for c in any_store.cases(CITY)] == ["evt-crit-01", "evt-minor-1", "evt-info-01"]
    assert [c.event_id for c in any_store.cases(CITY, CaseQuery(prefix=("D01", "S02")))] == ["evt-crit-01"]
    assert [c.event_id for c in any_store.cases(STREET.jurisdiction)] == ["evt-minor-1", "evt-info-01"]
    assert [c.event_id for c in any_store.cases(CITY, CaseQuery(category="device.low_battery"))] == ["evt-info-01"]
    assert [c.event_id for c in any_store.cases(CITY, CaseQuery(severity=Severity.MINOR))] == ["evt-minor-1"]
    assert [c.event_id for c in any_store.cases(CITY, CaseQuery(state=CaseState.REPORTED), limit=1)] == ["evt-crit-01"]
    # A filter outside the officer's own subtree finds nothing rather than widening the scope.
    assert any_store.cases(STREET.jurisdiction, CaseQuery(prefix=("D01", "S02"))) == []
    with pytest.raises(ValueError, match="at most four"):
        any_store.cases(CITY, CaseQuery(prefix=("D01", "S01", "C01", "G01", "X")))
    counts = any_store.open_counts(STREET.jurisdiction)
    assert [(codes, n) for codes, _names, n, _late in counts] == [(("D01", "S01", "C01", "G01"), 2)]


def test_a_revision_keeps_the_published_payload_and_the_receipt_time(any_store: CaseStore) -> None:
    event = make_event()
    any_store.add(event, received_at=1234.5)
    (revision,) = any_store.revisions(CITY, event.event_id)
    assert revision.received_at == 1234.5
    assert json.loads(revision.payload)["evidence"]["readings"][0]["point"] == "smoke"


def test_a_batch_is_stored_exactly_as_row_by_row(any_store: CaseStore) -> None:
    """A batch goes in as one statement per table on PostgreSQL (its rows travel as JSON): text with quotes,
    backslashes, tabs and CJK, times with microseconds and the payload come back exactly as one by one."""
    title = '烟感 "quoted" \\ back\\slash\ttab, {"json": [1]} \u00e9'
    events = [make_event(f"evt-batch-{i}", seq, title=title, device_id=f"dev-{i}") for i in range(3) for seq in (1, 2)]
    received_at = 1_700_000_000.123456
    assert any_store.add_many(events, received_at) == [Outcome.NEW] * 6
    assert any_store.add_many(events, received_at + 1) == [Outcome.DUPLICATE] * 6
    for i in range(3):
        case = any_store.case(CITY, f"evt-batch-{i}")
        assert (case.title, case.seq, case.device_id, case.opened_at) == (title, 2, f"dev-{i}", received_at)
        assert case.started_at == events[2 * i].started_at.timestamp()
        revisions = any_store.revisions(CITY, f"evt-batch-{i}")
        assert [(r.seq, r.received_at) for r in revisions] == [(1, received_at), (2, received_at)]
        assert [r.payload for r in revisions] == [e.to_json().decode() for e in events[2 * i : 2 * i + 2]]


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = CaseStore(f"sqlite:///{tmp_path / 'db' / 'center.db'}", POLICY)
    store.migrate()
    store.add(make_event(), received_at=1000.0)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    store.close()


def test_a_foundation_database_is_adopted_and_migrated(tmp_path: Path) -> None:
    """A database the foundation made with create_all (no version table) keeps its cases."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE cases (event_id VARCHAR PRIMARY KEY, seq INTEGER NOT NULL, "
                "source_status VARCHAR NOT NULL, category VARCHAR NOT NULL, severity VARCHAR NOT NULL, "
                "title VARCHAR NOT NULL, district_code VARCHAR NOT NULL, district_name VARCHAR NOT NULL, "
                "street_code VARCHAR NOT NULL, street_name VARCHAR NOT NULL, community_code VARCHAR NOT NULL, "
                "community_name VARCHAR NOT NULL, grid_code VARCHAR NOT NULL, grid_name VARCHAR NOT NULL, "
                "site VARCHAR NOT NULL, address VARCHAR NOT NULL, gateway_id VARCHAR NOT NULL, "
                "device_id VARCHAR, started_at FLOAT NOT NULL, observed_at FLOAT NOT NULL, ended_at FLOAT, "
                "opened_at FLOAT NOT NULL, updated_at FLOAT NOT NULL)"
            )
        )
        conn.execute(text("CREATE TABLE event_revisions (id INTEGER PRIMARY KEY, event_id VARCHAR NOT NULL)"))
        conn.execute(text("CREATE INDEX ix_cases_category ON cases (category)"))
        conn.execute(
            text(
                "INSERT INTO cases VALUES ('evt-old-0001', 1, 'firing', 'device.offline', 'major', 't', "
                "'D01', '', 'S01', '', 'C01', '', 'G01', '', 's', 'a', 'gw', NULL, 1, 1, NULL, 5, 5)"
            )
        )
    engine.dispose()
    store = CaseStore(url, POLICY)
    store.migrate()
    case = store.case(CITY, "evt-old-0001")
    assert (case.state, case.severity_rank, case.state_since) == ("reported", 1, 5.0)
    assert {"case_steps", "officers", "credentials", "alembic_version"} <= set(inspect(store.engine).get_table_names())
    store.close()

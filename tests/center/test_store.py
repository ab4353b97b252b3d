from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridedge.center.store import CaseStore
from gridedge.edge.event import EventStatus, Severity
from tests.center.events import make_event


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaseStore]:
    s = CaseStore(f"sqlite:///{tmp_path / 'db' / 'center.db'}")
    s.create_schema()
    yield s
    s.close()


def test_a_first_revision_opens_a_case(store: CaseStore) -> None:
    assert store.add(make_event(), received_at=1000.0)
    case = store.case("evt-0000001")
    assert case is not None
    assert (case.seq, case.source_status, case.opened_at, case.updated_at) == (1, "firing", 1000.0, 1000.0)
    assert (case.street_code, case.street_name, case.site) == ("S01", "新街口街道", "No. 3 e-bike shed")
    assert (case.gateway_id, case.device_id) == ("gw-01", "smoke-3f")


def test_a_duplicate_revision_is_stored_once(store: CaseStore) -> None:
    assert store.add(make_event(), received_at=1000.0)
    assert not store.add(make_event(), received_at=1001.0)
    assert store.add_many([make_event(seq=2), make_event(seq=2)], received_at=1002.0) == [True, False]
    assert store.count_revisions() == 2
    case = store.case("evt-0000001")
    assert case is not None
    assert (case.seq, case.opened_at, case.updated_at) == (2, 1000.0, 1002.0)


def test_an_older_revision_arriving_late_is_kept_but_does_not_win(store: CaseStore) -> None:
    store.add(make_event(seq=3, status=EventStatus.RESOLVED), received_at=1000.0)
    assert store.add(make_event(seq=2, status=EventStatus.UPDATE), received_at=1001.0)
    case = store.case("evt-0000001")
    assert case is not None
    assert (case.seq, case.source_status, case.updated_at) == (3, "resolved", 1000.0)
    assert [r.seq for r in store.revisions("evt-0000001")] == [2, 3]


def test_resolved_moves_a_case_out_of_the_open_list(store: CaseStore) -> None:
    store.add(make_event(), received_at=1000.0)
    assert [c.event_id for c in store.open_cases()] == ["evt-0000001"]
    store.add(make_event(seq=2, status=EventStatus.RESOLVED), received_at=1001.0)
    assert store.open_cases() == []
    resolved = store.cases("resolved")
    assert [(c.event_id, c.source_status) for c in resolved] == [("evt-0000001", "resolved")]
    assert resolved[0].ended_at is not None
    assert store.count_cases("open") == 0
    assert store.count_cases() == 1


def test_cases_are_filtered_by_grid_prefix_and_category_and_ordered_by_severity(store: CaseStore) -> None:
    store.add_many(
        [
            make_event("evt-minor-1", severity=Severity.MINOR),
            make_event("evt-crit-01", codes=("D01", "S02", "C07", "G01"), gateway_id="gw-02"),
            make_event("evt-info-01", severity=Severity.INFO, category="device.low_battery"),
        ],
        received_at=1000.0,
    )
    assert [c.event_id for c in store.cases()] == ["evt-crit-01", "evt-minor-1", "evt-info-01"]
    assert [c.event_id for c in store.open_cases(prefix=("D01", "S02"))] == ["evt-crit-01"]
    assert [c.event_id for c in store.cases(category="device.low_battery")] == ["evt-info-01"]
    assert [c.event_id for c in store.cases(limit=1)] == ["evt-crit-01"]
    with pytest.raises(ValueError, match="at most four"):
        store.cases(prefix=("D01", "S01", "C01", "G01", "X"))


def test_a_revision_keeps_the_published_payload_and_the_receipt_time(store: CaseStore) -> None:
    event = make_event()
    store.add(event, received_at=1234.5)
    (revision,) = store.revisions(event.event_id)
    assert revision.received_at == 1234.5
    assert revision.observed_at == event.observed_at.timestamp()
    assert json.loads(revision.payload)["evidence"]["readings"][0]["point"] == "smoke"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(store: CaseStore, tmp_path: Path) -> None:
    store.add(make_event(), received_at=1000.0)
    assert (tmp_path / "db" / "center.db-wal").exists()

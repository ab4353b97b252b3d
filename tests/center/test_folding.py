"""Case folding and the case list's queries on SQLite and PostgreSQL: one case per hazard while it is
open, occurrences counted, search, sort orders and pages that follow the filters."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import aiomqtt
import pytest

from gridedge.center.access import Officer, Role
from gridedge.center.ingest import Ingest
from gridedge.center.policy import Policy
from gridedge.center.settings import CenterConfig
from gridedge.center.store import CaseQuery, CaseSort, CaseStore
from gridedge.center.workflow import Action, CaseState
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.event import EventStatus, GridEvent, Severity
from tests.center.conftest import POLICY
from tests.center.events import T0, make_event, topic_of
from tests.servers import Mosquitto

CITY: tuple[str, ...] = ()
ADMIN = Officer("admin", "Admin", Role.ADMIN, ())
SHOP = "street_order.outside_shop_operation"


def incident(
    n: int, *, device: str = "smoke-3f", seq: int = 1, category: str = "fire_safety.smoke_alarm", **kw: object
) -> GridEvent:
    """The n-th incident of a device: its own event_id, starting n minutes after T0."""
    e = make_event(f"evt-{device}-{n:04d}", seq, device_id=device, category=category, **kw)  # type: ignore[arg-type]
    return e.model_copy(
        update={"started_at": T0 + timedelta(minutes=n), "observed_at": T0 + timedelta(minutes=n, seconds=seq)}
    )


def test_repeats_of_a_hazard_fold_into_its_open_case(any_store: CaseStore) -> None:
    any_store.add(incident(1), received_at=1000.0)
    any_store.add(incident(1, seq=2, status=EventStatus.RESOLVED), received_at=1010.0)
    any_store.add(incident(2, title="Smoke again"), received_at=1100.0)
    assert any_store.count_cases(CITY) == 1
    case = any_store.case(CITY, "evt-smoke-3f-0001")
    assert (case.occurrences, case.shown_event_id, case.seq, case.source_status, case.title) == (
        2,
        "evt-smoke-3f-0002",
        1,
        "firing",
        "Smoke again",
    )
    assert case.last_seen_at == (T0 + timedelta(minutes=2)).timestamp()
    assert case.opened_at == 1000.0
    timeline = [(r.event_id, r.seq) for r in any_store.revisions(CITY, case.event_id)]
    assert timeline == [("evt-smoke-3f-0001", 1), ("evt-smoke-3f-0001", 2), ("evt-smoke-3f-0002", 1)]
    assert any_store.case(CITY, "evt-smoke-3f-0002").event_id == case.event_id  # found by a folded incident's id


def test_a_revision_of_an_older_occurrence_does_not_take_over_the_case(any_store: CaseStore) -> None:
    any_store.add_many([incident(1), incident(2)], received_at=1000.0)
    any_store.add(incident(1, seq=2, status=EventStatus.RESOLVED), received_at=1010.0)
    case = any_store.case(CITY, "evt-smoke-3f-0001")
    assert (case.occurrences, case.shown_event_id, case.source_status) == (2, "evt-smoke-3f-0002", "firing")
    any_store.add(incident(2, seq=2, status=EventStatus.RESOLVED), received_at=1020.0)
    assert any_store.case(CITY, "evt-smoke-3f-0001").source_status == "resolved"


def test_other_devices_categories_and_gateways_open_their_own_cases(any_store: CaseStore) -> None:
    any_store.add(incident(1), received_at=1000.0)
    any_store.add(incident(2, device="smoke-4a"), received_at=1001.0)
    any_store.add(incident(3, category="fire_safety.ebike_charging_overheat"), received_at=1002.0)
    any_store.add(incident(4, gateway_id="gw-02"), received_at=1003.0)
    assert any_store.count_cases(CITY) == 4


def test_a_finished_case_takes_no_more_occurrences(any_store: CaseStore) -> None:
    any_store.add(incident(1), received_at=1000.0)
    any_store.act(ADMIN, "evt-smoke-3f-0001", Action.REJECT, now=1001.0, comment="test button")
    any_store.add(incident(2), received_at=1002.0)
    assert any_store.count_cases(CITY) == 2
    assert any_store.case(CITY, "evt-smoke-3f-0002").occurrences == 1


def test_folding_is_configured_per_category(database_url: str) -> None:
    store = CaseStore(database_url, Policy.model_validate({**POLICY.model_dump(), "fold": {"street_order": False}}))
    store.migrate()
    shop = {"category": SHOP, "severity": Severity.MINOR}
    store.add_many([incident(1, **shop), incident(2, **shop), incident(3), incident(4)], received_at=1000.0)  # type: ignore[arg-type]
    assert store.count_cases(CITY, CaseQuery(category=SHOP)) == 2
    assert store.count_cases(CITY, CaseQuery(category="fire_safety.smoke_alarm")) == 1
    store.close()


def test_a_fleet_of_200_devices_with_repeated_alarms_gives_one_case_per_device(any_store: CaseStore) -> None:
    """Each device alarms three times (fire, then resolve), arriving interleaved in batches of 500."""
    revisions = [
        incident(n, device=f"smoke-{d:03d}", seq=seq, status=EventStatus.FIRING if seq == 1 else EventStatus.RESOLVED)
        for n in range(3)
        for seq in (1, 2)
        for d in range(200)
    ]
    for i in range(0, len(revisions), 500):
        any_store.add_many(revisions[i : i + 500], received_at=1000.0 + i)
    assert any_store.count_cases(CITY) == 200
    assert any_store.count_revisions() == 1200
    cases = any_store.cases(CITY, limit=1000)
    assert {c.occurrences for c in cases} == {3}
    assert {c.source_status for c in cases} == {"resolved"}
    assert {c.device_id for c in cases} == {f"smoke-{d:03d}" for d in range(200)}


def test_search_finds_a_case_by_id_device_or_address(any_store: CaseStore) -> None:
    any_store.add(incident(1, site="No. 3 e-bike shed"), received_at=1000.0)
    any_store.add(incident(2, device="ir-7", category=SHOP, site="Lucky noodles 100%"), received_at=1001.0)
    any_store.add(incident(3), received_at=1002.0)  # folds into the first case

    def found(words: str) -> list[str]:
        return [c.event_id for c in any_store.cases(CITY, CaseQuery(search=words))]

    assert found("evt-ir-7-0002") == ["evt-ir-7-0002"]
    assert found("evt-smoke-3f-0003") == ["evt-smoke-3f-0001"]
    assert found("ir-7") == ["evt-ir-7-0002"]
    assert found("NOODLES") == ["evt-ir-7-0002"]
    assert found("100%") == ["evt-ir-7-0002"]
    assert found("10_%") == []  # LIKE wildcards in the words are literal
    assert sorted(found("玉桃园")) == ["evt-ir-7-0002", "evt-smoke-3f-0001"]


def test_the_priority_order_puts_late_and_escalated_cases_first(any_store: CaseStore) -> None:
    """The oldest case is a minor one that rose for lateness: the default order still shows it first."""
    any_store.add(incident(1, device="ir-1", category=SHOP, severity=Severity.MINOR), received_at=1000.0)
    for d in range(5):
        any_store.add(incident(2, device=f"smoke-{d}"), received_at=5000.0 + d)
    any_store.escalate_overdue(now=1000.0 + 1800)
    late = any_store.case(CITY, "evt-ir-1-0001")
    assert late.escalations == 1
    first = any_store.cases(CITY, CaseQuery(open_only=True), limit=2, now=5100.0)
    assert first[0].event_id == "evt-ir-1-0001"
    newest = any_store.cases(CITY, CaseQuery(open_only=True), limit=6, sort=CaseSort.NEWEST, now=5100.0)
    assert newest[-1].event_id == "evt-ir-1-0001"


def test_pages_cover_every_case_once_in_each_order(any_store: CaseStore) -> None:
    any_store.add_many([incident(n, device=f"d{n}", severity=list(Severity)[n % 4]) for n in range(23)], 1000.0)
    for sort in CaseSort:
        seen = [c.event_id for page in range(3) for c in any_store.cases(CITY, limit=10, offset=10 * page, sort=sort)]
        assert sorted(seen) == sorted(set(seen)), sort
        assert len(seen) == 23, sort
    assert any_store.count_cases(CITY, CaseQuery(severity=Severity.CRITICAL)) == 6


def test_closing_clears_the_fold_key_so_the_next_incident_opens_a_case(any_store: CaseStore) -> None:
    any_store.add(incident(1), received_at=1000.0)
    for action, kw in (
        (Action.VERIFY, {}),
        (Action.DISPATCH, {"unit": "fire-1"}),
        (Action.HANDLE, {"comment": "replaced the detector"}),
        (Action.CLOSE, {"confirm_source_firing": True}),
    ):
        any_store.act(ADMIN, "evt-smoke-3f-0001", action, now=1001.0, **kw)  # type: ignore[arg-type]
    case = any_store.case(CITY, "evt-smoke-3f-0001")
    assert (case.state, case.fold_key) == (CaseState.CLOSED.value, None)
    any_store.add(incident(2), received_at=1100.0)
    assert any_store.count_cases(CITY) == 2


def test_an_incident_from_another_grid_never_folds_across_jurisdictions(any_store: CaseStore) -> None:
    any_store.add(incident(1), received_at=1000.0)
    any_store.add(incident(2, codes=("D01", "S02", "C03", "G04")), received_at=1001.0)
    assert any_store.count_cases(("D01", "S01")) == 1
    assert any_store.count_cases(("D01", "S02")) == 1


@pytest.mark.integration
async def test_a_fleet_through_mqtt_folds_into_one_case_per_device(broker: Mosquitto, tmp_path: Path) -> None:
    """200 smoke alarms each fire and clear three times, published at QoS 1 through a real Mosquitto into
    the centre's ingest: 200 cases, each with 3 occurrences and all 6 revisions in its timeline."""
    store = CaseStore(f"sqlite:///{tmp_path / 'centre.db'}", POLICY)
    store.migrate()
    ingest = Ingest(CenterConfig(broker=BrokerConfig(port=broker.port)), store)
    task = asyncio.create_task(ingest.run())
    revisions = [
        incident(n, device=f"SA-{d:04d}", seq=seq, status=EventStatus.FIRING if seq == 1 else EventStatus.RESOLVED)
        for n in range(3)
        for seq in (1, 2)
        for d in range(200)
    ]
    try:
        async with asyncio.timeout(60):
            while not ingest.stats.broker_connected:
                await asyncio.sleep(0.02)
            async with aiomqtt.Client("127.0.0.1", broker.port, max_queued_outgoing_messages=2000) as client:
                for e in revisions:
                    await client.publish(topic_of(e), e.to_json(), qos=1)
            while ingest.stats.stored < len(revisions):
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.wait([task])
    try:
        cases = store.cases(CITY, CaseQuery(), limit=1000)
        assert len(cases) == 200
        assert {c.occurrences for c in cases} == {3}
        assert {c.device_id for c in cases} == {f"SA-{d:04d}" for d in range(200)}
        assert {c.source_status for c in cases} == {"resolved"}
        assert len(store.revisions(CITY, cases[0].event_id)) == 6
    finally:
        store.close()

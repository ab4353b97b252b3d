"""Camera incident identity across a replaced worker and an agent restart (pure: no worker, no clock)."""

from __future__ import annotations

import json

from gridedge.edge.event import EventStatus
from gridedge.vision.events import VisionEvent
from gridedge.vision.incidents import STATE_PREFIX, CameraIncidents, OpenIncident, Revision

T0 = 1_700_000_000.0
WINDOW = 30.0


def report(status: EventStatus, started: float, observed: float, zone: str = "pavement") -> VisionEvent:
    return VisionEvent(
        camera_id="cam-1",
        status=status,
        category="street_order.outside_shop_operation",
        zone=zone,
        title="Doing business outside the shop",
        started_at=started,
        observed_at=observed,
        ended_at=observed if status is EventStatus.RESOLVED else None,
    )


def window(_: OpenIncident) -> float:
    return WINDOW


def firing(book: CameraIncidents, key: str = "cam-1/pavement/1") -> Revision:
    revision = book.revise(report(EventStatus.FIRING, T0, T0 + 120), key)
    assert revision is not None
    return revision


def stored(revisions: list[Revision]) -> dict[str, object]:
    """The state table after these revisions, through JSON as the outbox keeps it."""
    table: dict[str, object] = {}
    for r in revisions:
        for key, value in r.state.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = json.loads(json.dumps(value))
    return table


def test_a_replaced_worker_that_finds_the_violation_again_continues_the_incident() -> None:
    book = CameraIncidents("gw-1")
    first = firing(book)
    book.worker_started("cam-1", T0 + 200)
    # The fresh worker numbers its objects afresh: its key differs, the place is the same.
    assert book.revise(report(EventStatus.FIRING, T0 + 200, T0 + 320), "cam-1/pavement/7") is None
    assert book.expire(T0 + 200 + WINDOW + 1, window) == []  # confirmed: not resolved by the window
    resolved = book.revise(report(EventStatus.RESOLVED, T0 + 200, T0 + 400), "cam-1/pavement/7")
    assert resolved is not None
    assert (resolved.event_id, resolved.seq, resolved.event.status) == (first.event_id, 2, EventStatus.RESOLVED)
    assert resolved.state == {STATE_PREFIX + first.event_id: None}
    assert book.open() == []


def test_an_incident_no_fresh_worker_confirms_resolves_after_its_window() -> None:
    book = CameraIncidents("gw-1")
    first = firing(book)
    book.worker_started("cam-1", T0 + 200)
    assert book.expire(T0 + 200 + WINDOW - 1, window) == []
    [resolved] = book.expire(T0 + 200 + WINDOW, window)
    assert (resolved.event_id, resolved.seq, resolved.event.status) == (first.event_id, 2, EventStatus.RESOLVED)
    assert resolved.event.ended_at == T0 + 200 + WINDOW
    assert resolved.event.started_at == T0
    assert book.expire(T0 + 1000, window) == []  # once


def test_an_agent_restart_continues_the_incident_from_the_stored_record() -> None:
    before = CameraIncidents("gw-1")
    first = firing(before)
    update = before.revise(report(EventStatus.UPDATE, T0, T0 + 720), "cam-1/pavement/1")
    assert update is not None
    assert update.seq == 2
    after = CameraIncidents("gw-1", stored([first, update]), now=T0 + 800)
    after.worker_started("cam-1", T0 + 800)
    assert after.revise(report(EventStatus.FIRING, T0 + 800, T0 + 920), "cam-1/pavement/1") is None
    again = after.revise(report(EventStatus.UPDATE, T0 + 800, T0 + 1520), "cam-1/pavement/1")
    assert again is not None
    assert (again.event_id, again.seq) == (first.event_id, 3)


def test_a_restart_after_the_scene_cleared_resolves_the_stored_incident() -> None:
    first = firing(before := CameraIncidents("gw-1"))
    after = CameraIncidents("gw-1", stored([first]), now=T0 + 800)
    assert [i.event_id for i in after.open()] == [first.event_id]
    after.worker_started("cam-1", T0 + 805)
    [resolved] = after.expire(T0 + 805 + WINDOW, window)
    assert (resolved.event_id, resolved.seq) == (first.event_id, 2)
    assert before.open()  # the book of the run that ended is not touched


def test_a_violation_after_the_resolution_is_a_new_incident_and_other_zones_are_apart() -> None:
    book = CameraIncidents("gw-1")
    first = firing(book)
    book.revise(report(EventStatus.RESOLVED, T0, T0 + 300), "cam-1/pavement/1")
    second = book.revise(report(EventStatus.FIRING, T0 + 400, T0 + 520), "cam-1/pavement/1")
    other = book.revise(report(EventStatus.FIRING, T0 + 400, T0 + 520, zone="door"), "cam-1/door/1")
    assert second is not None
    assert other is not None
    assert len({first.event_id, second.event_id, other.event_id}) == 3
    assert (second.seq, other.seq) == (1, 1)


def test_a_resolution_of_an_unknown_incident_publishes_nothing() -> None:
    book = CameraIncidents("gw-1")
    assert book.revise(report(EventStatus.RESOLVED, T0, T0 + 300), "cam-1/pavement/1") is None


def test_an_unreadable_stored_record_is_left_out_and_the_rest_restored() -> None:
    first = firing(CameraIncidents("gw-1"))
    records = {**stored([first]), STATE_PREFIX + "cam-broken": {"event_id": "cam-broken"}, STATE_PREFIX + "x": 7}
    assert [i.event_id for i in CameraIncidents("gw-1", records).open()] == [first.event_id]

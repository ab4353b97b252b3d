"""Camera incident identity across a replaced worker and an agent restart (pure: no worker, no clock)."""

from __future__ import annotations

import json

from gridedge.edge.event import EventStatus
from gridedge.vision.events import VisionEvent
from gridedge.vision.incidents import STATE_PREFIX, CameraIncidents, OpenIncident, Revision, place_of

T0 = 1_700_000_000.0
WINDOW = 30.0
ZONE_KEY = place_of("cam-1", "pavement", "street_order.outside_shop_operation")
OFFLINE_KEY = place_of("cam-1", None, "device.offline")


def report(status: EventStatus, started: float, observed: float, zone: str | None = "pavement") -> VisionEvent:
    return VisionEvent(
        camera_id="cam-1",
        status=status,
        category="street_order.outside_shop_operation" if zone else "device.offline",
        zone=zone,
        title="Doing business outside the shop" if zone else "Camera cam-1 offline",
        started_at=started,
        observed_at=observed,
        ended_at=observed if status is EventStatus.RESOLVED else None,
    )


def window(incident: OpenIncident) -> float | None:
    """As the agent's: only the camera's offline incident has a window."""
    return WINDOW if incident.zone is None else None


def revise(book: CameraIncidents, event: VisionEvent) -> Revision:
    revision = book.revise(event, place_of(event.camera_id, event.zone, event.category))
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
    first = revise(book, report(EventStatus.FIRING, T0, T0 + 120))
    book.worker_started("cam-1", T0 + 200)
    assert book.revise(report(EventStatus.FIRING, T0 + 200, T0 + 320), ZONE_KEY) is None  # nothing new
    assert book.unconfirmed() == []
    resolved = revise(book, report(EventStatus.RESOLVED, T0 + 200, T0 + 400))
    assert (resolved.event_id, resolved.seq, resolved.event.status) == (first.event_id, 2, EventStatus.RESOLVED)
    assert resolved.state == {STATE_PREFIX + first.event_id: None}
    assert book.open() == []


def test_a_zone_incident_waits_for_its_worker_however_long() -> None:
    book = CameraIncidents("gw-1")
    first = revise(book, report(EventStatus.FIRING, T0, T0 + 120))
    book.worker_started("cam-1", T0 + 200)
    assert book.expire(T0 + 100_000, window) == []
    resolved = revise(book, report(EventStatus.RESOLVED, T0, T0 + 100_001))  # a worker that kept its objects
    assert (resolved.event_id, resolved.seq) == (first.event_id, 2)


def test_a_camera_back_while_its_worker_was_dead_resolves_the_offline_incident_after_the_window() -> None:
    book = CameraIncidents("gw-1")
    first = revise(book, report(EventStatus.FIRING, T0, T0 + 30, zone=None))
    book.worker_started("cam-1", T0 + 200)
    assert book.expire(T0 + 200 + WINDOW - 1, window) == []
    [resolved] = book.expire(T0 + 200 + WINDOW, window)
    assert (resolved.event_id, resolved.seq, resolved.event.status) == (first.event_id, 2, EventStatus.RESOLVED)
    assert (resolved.event.started_at, resolved.event.ended_at) == (T0, T0 + 200 + WINDOW)
    assert resolved.event.category == "device.offline"
    assert book.expire(T0 + 1000, window) == []  # once


def test_a_camera_still_down_for_the_fresh_worker_keeps_its_offline_incident() -> None:
    book = CameraIncidents("gw-1")
    first = revise(book, report(EventStatus.FIRING, T0, T0 + 30, zone=None))
    book.worker_started("cam-1", T0 + 200)
    assert book.revise(report(EventStatus.FIRING, T0 + 200, T0 + 215, zone=None), OFFLINE_KEY) is None
    assert book.expire(T0 + 200 + 10 * WINDOW, window) == []
    back = revise(book, report(EventStatus.RESOLVED, T0 + 200, T0 + 900, zone=None))
    assert (back.event_id, back.seq) == (first.event_id, 2)


def test_an_agent_restart_continues_the_incident_from_the_stored_record() -> None:
    before = CameraIncidents("gw-1")
    first = revise(before, report(EventStatus.FIRING, T0, T0 + 120))
    update = revise(before, report(EventStatus.UPDATE, T0, T0 + 720))
    assert update.seq == 2
    after = CameraIncidents("gw-1", stored([first, update]), now=T0 + 800)
    after.worker_started("cam-1", T0 + 800)
    assert after.revise(report(EventStatus.FIRING, T0 + 800, T0 + 920), ZONE_KEY) is None
    again = revise(after, report(EventStatus.UPDATE, T0 + 800, T0 + 1520))
    assert (again.event_id, again.seq) == (first.event_id, 3)


def test_incidents_of_a_camera_no_longer_configured_resolve_at_once() -> None:
    first = revise(CameraIncidents("gw-1"), report(EventStatus.FIRING, T0, T0 + 120))
    after = CameraIncidents("gw-1", stored([first]), now=T0 + 800)
    [resolved] = after.expire(T0 + 800, lambda _: 0.0)
    assert (resolved.event_id, resolved.seq) == (first.event_id, 2)


def test_a_violation_after_the_resolution_is_a_new_incident_and_other_zones_are_apart() -> None:
    book = CameraIncidents("gw-1")
    first = revise(book, report(EventStatus.FIRING, T0, T0 + 120))
    revise(book, report(EventStatus.RESOLVED, T0, T0 + 300))
    second = revise(book, report(EventStatus.FIRING, T0 + 400, T0 + 520))
    other = revise(book, report(EventStatus.FIRING, T0 + 400, T0 + 520, zone="door"))
    assert len({first.event_id, second.event_id, other.event_id}) == 3
    assert (second.seq, other.seq) == (1, 1)


def test_a_resolution_of_an_unknown_incident_publishes_nothing() -> None:
    book = CameraIncidents("gw-1")
    assert book.revise(report(EventStatus.RESOLVED, T0, T0 + 300), ZONE_KEY) is None


def test_an_unreadable_stored_record_is_left_out_and_the_rest_restored() -> None:
    first = revise(CameraIncidents("gw-1"), report(EventStatus.FIRING, T0, T0 + 120))
    records = {**stored([first]), STATE_PREFIX + "cam-broken": {"event_id": "cam-broken"}, STATE_PREFIX + "x": 7}
    assert [i.event_id for i in CameraIncidents("gw-1", records).open()] == [first.event_id]

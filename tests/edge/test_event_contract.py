import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from gridedge.edge.alert import Alert, Origin, to_grid_event
from gridedge.edge.event import EventStatus, GridEvent, Severity
from gridedge.edge.grid import GridCell, GridUnit, Level, Location
from gridedge.edge.reading import Reading
from gridedge.edge.topics import event_topic, jurisdiction_filter, parse_event_topic
from gridedge.gateway.schemas import published_schemas

ROOT = Path(__file__).parents[2]
CELL = GridCell(
    district=GridUnit(code="D01"),
    street=GridUnit(code="S01"),
    community=GridUnit(code="C01"),
    grid=GridUnit(code="G01"),
)


@pytest.mark.parametrize("name", sorted(published_schemas()))
def test_committed_schema_equals_the_models(name: str) -> None:
    committed = (ROOT / "schemas" / name).read_text(encoding="utf-8")
    assert committed == published_schemas()[name], f"schemas/{name} is stale: run `gridedge schemas`"


def _alert(**changes: object) -> Alert:
    base: dict[str, object] = {
        "event_id": "0123456789abcdef",
        "seq": 1,
        "status": EventStatus.FIRING,
        "rule_id": "smoke_alarm",
        "dedup_key": "smoke_alarm:SA-1",
        "device_id": "SA-1",
        "category": "fire_safety.smoke_alarm",
        "severity": Severity.CRITICAL,
        "title": "Smoke alarm",
        "started_at": 1_700_000_000.0,
        "observed_at": 1_700_000_000.5,
        "level": Level.COMMUNITY,
        "readings": (Reading("SA-1", "smoke", True, 1_700_000_000.0, None, "smoke"),),
    }
    base.update(changes)
    return Alert(**base)  # type: ignore[arg-type]


def test_alert_becomes_an_event_that_round_trips_through_json() -> None:
    origin = Origin("gw-1", CELL, Location(site="Shed 3"), "generic-smoke-alarm")
    event = to_grid_event(_alert(), origin)
    doc = json.loads(event.to_json())
    assert doc["schema"] == "gridedge.event/1"
    assert doc["national_code"] == "04"
    assert doc["started_at"].endswith("Z")
    assert doc["evidence"]["readings"][0]["value"] is True
    assert GridEvent.from_json(event.to_json()) == event


def test_evidence_is_bounded() -> None:
    readings = tuple(Reading("SA-1", "smoke", True, 1_700_000_000.0 + i) for i in range(50))
    event = to_grid_event(_alert(readings=readings), Origin("gw-1", CELL, Location(site="x")))
    assert len(event.evidence.readings) == 20
    assert event.evidence.readings[-1].ts.timestamp() == 1_700_000_049.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "smoke"),  # not two-level
        ("seq", 0),
        ("severity", "urgent"),
        ("started_at", "2026-01-01T00:00:00"),  # no timezone
        ("started_at", datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8))).isoformat()),  # not UTC
        ("unknown_field", 1),
    ],
)
def test_contract_refuses_bad_events(field: str, value: object) -> None:
    doc = json.loads(to_grid_event(_alert(), Origin("gw-1", CELL, Location(site="x"))).to_json())
    doc[field] = value
    with pytest.raises(ValidationError):
        GridEvent.model_validate(doc)


def test_topic_tree_mirrors_the_grid_tree() -> None:
    topic = event_topic(CELL.codes(), "gw-1")
    assert topic == "gridedge/v1/events/D01/S01/C01/G01/gw-1"
    parsed = parse_event_topic(topic)
    assert parsed is not None
    assert parsed.codes == CELL.codes()
    assert parsed.gateway_id == "gw-1"
    assert parse_event_topic("gridedge/v1/events/D01/S01") is None
    assert jurisdiction_filter(("D01", "S01")) == "gridedge/v1/events/D01/S01/#"


def test_grid_codes_must_be_topic_safe() -> None:
    with pytest.raises(ValidationError):
        GridUnit(code="D01/#")


def test_datetimes_are_utc() -> None:
    event = to_grid_event(_alert(), Origin("gw-1", CELL, Location(site="x")))
    assert event.started_at.tzinfo is not None
    assert event.started_at == datetime.fromtimestamp(1_700_000_000.0, tz=UTC)

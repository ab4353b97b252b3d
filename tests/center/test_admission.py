from __future__ import annotations

import json

import pytest

from gridedge.center.admission import AdmissionError, Reason, admit
from gridedge.edge.topics import event_topic
from tests.center.events import make_event, topic_of


def test_a_valid_event_on_its_own_topic_is_admitted() -> None:
    event = make_event()
    assert admit(topic_of(event), event.to_json()) == event


def _payload_with(path: tuple[str, ...], value: object) -> bytes:
    body = json.loads(make_event().to_json())
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "field"),
    [
        ("gridedge/v1/events/D01/S01/C01/gw-01", make_event().to_json(), Reason.BAD_TOPIC, "(topic)"),
        (topic_of(make_event()), b"{not json", Reason.BAD_PAYLOAD, "(document)"),
        (topic_of(make_event()), _payload_with(("seq",), 0), Reason.BAD_PAYLOAD, "seq"),
        (
            topic_of(make_event()),
            _payload_with(("grid", "street", "code"), "S 1"),
            Reason.BAD_PAYLOAD,
            "grid.street.code",
        ),
        (topic_of(make_event()), _payload_with(("surprise",), 1), Reason.BAD_PAYLOAD, "surprise"),
        (
            event_topic(("D01", "S02", "C01", "G01"), "gw-01"),
            make_event().to_json(),
            Reason.TOPIC_MISMATCH,
            "grid",
        ),
        (
            event_topic(("D01", "S01", "C01", "G01"), "gw-99"),
            make_event().to_json(),
            Reason.TOPIC_MISMATCH,
            "source.gateway_id",
        ),
    ],
    ids=["short-topic", "not-json", "bad-seq", "bad-code", "unknown-key", "other-grid", "other-gateway"],
)
def test_a_bad_message_is_refused_naming_the_field(topic: str, payload: bytes, reason: Reason, field: str) -> None:
    with pytest.raises(AdmissionError) as refused:
        admit(topic, payload)
    assert (refused.value.reason, refused.value.field) == (reason, field)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "bad"),
    [("smoke\u0001alarm", "U+0001"), ("smoke\x1b[2Jalarm", "U+001B"), ("smoke\x7falarm", "U+007F")],
    ids=["escaped-c0", "escaped-escape", "raw-del"],
)
def test_a_control_character_in_any_string_is_refused(value: str, bad: str) -> None:
    """json.dumps escapes C0 controls as `\\uXXXX` and writes DEL raw: both ways in are caught."""
    payload = _payload_with(("location", "address"), value)
    with pytest.raises(AdmissionError) as refused:
        admit(topic_of(make_event()), payload)
    assert (refused.value.reason, refused.value.field) == (Reason.BAD_CHARACTERS, "location.address")
    assert bad in refused.value.detail


def test_escapes_without_control_characters_are_admitted() -> None:
    """An escaped backslash before a `u`, and escaped printable characters, are text like any other."""
    payload = _payload_with(("location", "address"), "C:\\users\\\u00e9 Willow Road")
    assert admit(topic_of(make_event()), payload).location.address == "C:\\users\\\u00e9 Willow Road"

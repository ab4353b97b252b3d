"""Admission of one MQTT message: a valid grid event, published where its own grid and gateway say.

The topic is the broker's access-control unit (an ACL is a topic prefix), so an event whose body
names another grid or gateway than its topic is refused: a gateway cannot publish into another grid.
Every refusal is permanent (the same bytes would be refused again), so ingest keeps the message as a
dead letter and acknowledges it; nothing a gateway sends can make ingest retry for ever.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ValidationError

from gridedge.center.text import control_character, strings
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.event import GridEvent
from gridedge.edge.topics import parse_event_topic


class Reason(StrEnum):
    """Why a message was refused; also the label of the `rejected` counter."""

    BAD_TOPIC = "bad_topic"
    BAD_PAYLOAD = "bad_payload"
    TOPIC_MISMATCH = "topic_mismatch"
    BAD_EVIDENCE = "bad_evidence"
    """A snapshot whose bytes do not hash to the name in its topic, or too large."""
    OVERSIZE = "oversize"
    BAD_ENCODING = "bad_encoding"
    """Not UTF-8."""
    BAD_CHARACTERS = "bad_characters"
    """A control character (NUL...) in a text field."""
    FOREIGN_GATEWAY = "foreign_gateway"
    """A revision of an event another gateway raised: an event belongs to the gateway that sent it first."""
    MOVED_GRID = "moved_grid"
    """A revision that names another grid than its case: a case never moves."""
    BAD_STATUS = "bad_status"
    """A gateway status that is not the status JSON, is too large, or names another gateway."""
    STORE_FAILED = "store_failed"
    """The database refused it for good (not a passing outage)."""


class AdmissionError(GridEdgeError):
    """A message refused by the centre; it is counted and logged, never stored."""

    def __init__(self, reason: Reason, field: str, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{reason.value}: {field}: {detail}")


MAX_EVENT_BYTES = 64 * 1024
"""A grid event is a few kilobytes (20 readings, a 2000-character description at most)."""


def admit(topic: str, payload: bytes) -> GridEvent:
    """The event in the message, or AdmissionError naming the first offending field."""
    where = parse_event_topic(topic)
    if where is None:
        raise AdmissionError(
            Reason.BAD_TOPIC, "(topic)", "not gridedge/v1/events/{district}/{street}/{community}/{grid}/{gateway}"
        )
    if len(payload) > MAX_EVENT_BYTES:
        raise AdmissionError(Reason.OVERSIZE, "(payload)", f"{len(payload)} bytes, at most {MAX_EVENT_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise AdmissionError(Reason.BAD_ENCODING, "(payload)", f"not UTF-8 at byte {err.start}") from None
    try:
        event = GridEvent.from_json(payload)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        first = errors[0]
        field = ".".join(str(p) for p in first["loc"]) or "(document)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AdmissionError(Reason.BAD_PAYLOAD, field, f"{first['msg']}{more}") from None
    if _may_hold_control_characters(text):
        for field, value in strings(event.model_dump(mode="json", by_alias=True)):
            if (bad := control_character(value)) is not None:
                raise AdmissionError(Reason.BAD_CHARACTERS, field, f"contains the control character {bad}")
    if event.grid.codes() != where.codes:
        raise AdmissionError(
            Reason.TOPIC_MISMATCH, "grid", f"event grid {'/'.join(event.grid.codes())} is not the topic's"
        )
    if event.source.gateway_id != where.gateway_id:
        raise AdmissionError(
            Reason.TOPIC_MISMATCH, "source.gateway_id", f"event gateway {event.source.gateway_id} is not the topic's"
        )
    return event


def _may_hold_control_characters(text: str) -> bool:
    """Whether a JSON document the parser accepted can hold a forbidden character in a string: JSON refuses
    raw C0 controls in strings and lone surrogates (UTF-8 cannot carry one, the parser refuses an escaped one),
    so only a `\\u` escape or a raw DEL can bring one in. Most events have neither and skip the walk over
    every string (a third of admission's time)."""
    return "\\u" in text or "\x7f" in text

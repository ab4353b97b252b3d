"""Admission of one MQTT message: a valid grid event, published where its own grid and gateway say.

The topic is the broker's access-control unit (an ACL is a topic prefix), so an event whose body
names another grid or gateway than its topic is refused: a gateway cannot publish into another grid.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ValidationError

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


class AdmissionError(GridEdgeError):
    """A message refused by the centre; it is counted and logged, never stored."""

    def __init__(self, reason: Reason, field: str, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{reason.value}: {field}: {detail}")


def admit(topic: str, payload: bytes) -> GridEvent:
    """The event in the message, or AdmissionError naming the first offending field."""
    where = parse_event_topic(topic)
    if where is None:
        raise AdmissionError(
            Reason.BAD_TOPIC, "(topic)", "not gridedge/v1/events/{district}/{street}/{community}/{grid}/{gateway}"
        )
    try:
        event = GridEvent.from_json(payload)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        first = errors[0]
        field = ".".join(str(p) for p in first["loc"]) or "(document)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AdmissionError(Reason.BAD_PAYLOAD, field, f"{first['msg']}{more}") from None
    if event.grid.codes() != where.codes:
        raise AdmissionError(
            Reason.TOPIC_MISMATCH, "grid", f"event grid {'/'.join(event.grid.codes())} is not the topic's"
        )
    if event.source.gateway_id != where.gateway_id:
        raise AdmissionError(
            Reason.TOPIC_MISMATCH, "source.gateway_id", f"event gateway {event.source.gateway_id} is not the topic's"
        )
    return event

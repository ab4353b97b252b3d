"""What the outbox holds: a message ready for the broker, checked before it is accepted.

Checks happen here, at the door, because a message the broker client would refuse (a wildcard in the
topic, an oversized payload) must be refused to its producer, not stored: once stored it would sit
at the head of the outbox and block every event behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridedge.edge.event import GridEvent, Severity
from gridedge.edge.topics import event_topic

# MQTT limits: a topic is a UTF-8 string of at most 65,535 bytes, a payload at most 268,435,455 bytes.
MAX_TOPIC_BYTES = 65_535
MAX_PAYLOAD_BYTES = 268_435_455


@dataclass(frozen=True, slots=True, kw_only=True)
class OutMessage:
    """One MQTT publication that must reach the broker.

    QoS is 1 or 2 only: the outbox drops a message when the broker acknowledged it, and QoS 0 has no
    acknowledgement. `severity` is kept so a later full-outbox policy can give way to critical events.
    """

    topic: str
    payload: bytes
    severity: Severity
    qos: int = 1
    retain: bool = False

    def __post_init__(self) -> None:
        if not self.topic or "+" in self.topic or "#" in self.topic or "\x00" in self.topic:
            raise ValueError(f"not a topic to publish on: {self.topic!r}")
        if len(self.topic.encode()) > MAX_TOPIC_BYTES:
            raise ValueError(f"topic longer than {MAX_TOPIC_BYTES} bytes")
        if len(self.payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
        if self.qos not in (1, 2):
            raise ValueError(f"the outbox only carries acknowledged deliveries (QoS 1 or 2), got QoS {self.qos}")


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as the outbox holds it: `id` is its place in the global (and so per-incident) order."""

    id: int
    message: OutMessage
    created_at: float
    attempts: int


def event_message(event: GridEvent) -> OutMessage:
    """The publication of one grid-event revision on its topic in the grid tree."""
    return OutMessage(
        topic=event_topic(event.grid.codes(), event.source.gateway_id),
        payload=event.to_json(),
        severity=event.severity,
    )

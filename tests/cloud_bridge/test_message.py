from __future__ import annotations

import hashlib

import pytest

from gridedge.cloud_bridge import OutMessage, event_message
from gridedge.cloud_bridge.evidence import EvidenceError, event_with_evidence, snapshot_of
from gridedge.edge.event import GridEvent, Severity
from tests.cloud_bridge.helpers import GATEWAY, make_event


def test_event_message_publishes_on_the_grid_tree_topic() -> None:
    event = make_event(severity=Severity.MAJOR)
    msg = event_message(event)
    assert msg.topic == f"gridedge/v1/events/d1/s1/c1/g1/{GATEWAY}"
    assert GridEvent.from_json(msg.payload) == event
    assert msg.qos == 1
    assert not msg.retain
    assert msg.severity is Severity.MAJOR


@pytest.mark.parametrize(
    ("topic", "qos"),
    [("", 1), ("gridedge/v1/+/x", 1), ("gridedge/v1/#", 1), ("a\x00b", 1), ("gridedge/v1/ok", 0), ("ok", 3)],
)
def test_a_message_the_broker_would_refuse_is_refused_at_the_door(topic: str, qos: int) -> None:
    with pytest.raises(ValueError, match=r"topic|QoS"):
        OutMessage(topic=topic, payload=b"{}", severity=Severity.INFO, qos=qos)


def with_snapshot(blob: bytes) -> GridEvent:
    event = make_event()
    return event.model_copy(update={"evidence": event.evidence.model_copy(update={"snapshot": snapshot_of(blob)})})


def test_evidence_goes_first_on_its_hash_topic_and_the_event_references_it() -> None:
    blob = b"\xff\xd8jpeg bytes\xff\xd9"
    event = with_snapshot(blob)
    evidence, published = event_with_evidence(event, blob)
    digest = hashlib.sha256(blob).hexdigest()
    assert evidence.topic == f"gridedge/v1/evidence/{GATEWAY}/{digest}"
    assert evidence.payload == blob
    assert evidence.severity is event.severity
    assert GridEvent.from_json(published.payload).evidence.snapshot == snapshot_of(blob)


def test_evidence_over_the_limit_or_not_referenced_is_refused() -> None:
    blob = b"x" * 100
    with pytest.raises(EvidenceError, match="limit"):
        event_with_evidence(with_snapshot(blob), blob, max_bytes=99)
    with pytest.raises(EvidenceError, match="reference"):
        event_with_evidence(make_event(), blob)
    with pytest.raises(EvidenceError, match="reference"):
        event_with_evidence(with_snapshot(blob), b"y" * 100)

from __future__ import annotations

import pytest

from gridedge.cloud_bridge import OutMessage, event_message
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

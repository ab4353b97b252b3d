"""cloud_bridge: the durable outbox and the MQTT uplink that drains it to the broker."""

from gridedge.cloud_bridge.message import OutMessage, StoredMessage, event_message
from gridedge.cloud_bridge.outbox import Outbox, OutboxError
from gridedge.cloud_bridge.uplink import Uplink, UplinkState

__all__ = [
    "OutMessage",
    "Outbox",
    "OutboxError",
    "StoredMessage",
    "Uplink",
    "UplinkState",
    "event_message",
]

"""cloud_bridge: the durable, bounded outbox, the MQTT uplink that drains it, evidence and downlink commands."""

from gridedge.cloud_bridge.message import OutMessage, StoredMessage, event_message
from gridedge.cloud_bridge.outbox import Bound, Outbox, OutboxError
from gridedge.cloud_bridge.uplink import Uplink, UplinkState

__all__ = [
    "Bound",
    "OutMessage",
    "Outbox",
    "OutboxError",
    "StoredMessage",
    "Uplink",
    "UplinkState",
    "event_message",
]

"""LoRaWAN network servers' uplink envelopes: where the frame, its port, its time and the device id sit in
the JSON a network server publishes, so a profile for a LoRaWAN device names only its own payload.

- ChirpStack v4 (MQTT integration, JSON marshaler, `application/{app}/device/{devEui}/event/up`):
  `{"time": RFC 3339, "deviceInfo": {"devEui": ...}, "fPort": 2, "data": base64, "rxInfo": [{"rssi": ...}]}`
- The Things Stack v3 (`v3/{app}@{tenant}/devices/{device_id}/up`): `{"end_device_ids": {"device_id": ...},
  "received_at": RFC 3339, "uplink_message": {"f_port": 2, "frm_payload": base64, "rx_metadata": [...]}}`
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Envelope(StrEnum):
    CHIRPSTACK_V4 = "chirpstack_v4"
    TTN_V3 = "ttn_v3"


@dataclass(frozen=True, slots=True)
class EnvelopeFields:
    frame: str  # base64 application payload
    port: str  # fPort: what routes a frame to the points of its message kind
    time: str  # RFC 3339 time the network server received it
    device: str  # the network server's device id
    rssi: str  # best gateway's RSSI


FIELDS: dict[Envelope, EnvelopeFields] = {
    Envelope.CHIRPSTACK_V4: EnvelopeFields("data", "fPort", "time", "deviceInfo.devEui", "rxInfo[0].rssi"),
    Envelope.TTN_V3: EnvelopeFields(
        "uplink_message.frm_payload",
        "uplink_message.f_port",
        "received_at",
        "end_device_ids.device_id",
        "uplink_message.rx_metadata[0].rssi",
    ),
}

"""Offer MQTT messages at full speed: PUBLISH packets encoded up front and written in large chunks.

A Python client publishing one message per call bounds the rate it offers (paho does about 60k/s here),
which would make the load generator, not the system under test, the figure. Encoding the packets first
and writing them as one stream leaves the broker and the subscribers as the only limits, so every
consumer in a benchmark is offered exactly the same bytes at the same speed.

Devices publish at QoS 1 as deployed (a sensor bridge forwarding its devices' messages): the blaster
keeps at most `window` messages unacknowledged, the broker's own `max_inflight_messages`, and a reader
thread counts the PUBACKs. Mosquitto acknowledges a QoS 1 PUBLISH once it holds the message, whatever
its subscribers do: a slow subscriber does not slow the publisher, it makes the broker queue (up to
`max_queued_messages` per subscriber session, beyond which Mosquitto drops).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Sequence

from gridedge.devices.drivers.mqtt_wire import DISCONNECT, connect_packet, publish_packet

__all__ = ["Blaster", "publish_packet"]

PUBACK = 0x40
WINDOW = 1000  # unacknowledged messages: the shipped broker's max_inflight_messages


class Blaster:
    """One connection to the broker that writes pre-encoded PUBLISH packets as fast as TCP and, at
    QoS 1, the window of unacknowledged messages take them. `packets()` encodes, `send()` writes them
    in the order they were encoded (packet ids are given in that order)."""

    def __init__(self, port: int, client_id: str = "bench-blaster", qos: int = 1, window: int = WINDOW) -> None:
        if qos not in (0, 1) or not 0 < window < 65_535:
            raise ValueError(f"qos {qos} with window {window}: the blaster sends QoS 0 or 1, window 1-65534")
        self.qos, self._window = qos, window
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(client_id))
        connack = self._sock.recv(4)
        if len(connack) != 4 or connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the benchmark publisher: CONNACK {connack!r}")
        self._encoded = 0  # packets encoded so far (the next packet id follows from it)
        self.sent = 0
        self.acked = 0
        self._acks = threading.Condition()
        self._reader = threading.Thread(target=self._read_acks, name=f"{client_id}-pubacks", daemon=True)
        self._reader.start()

    def packets(self, messages: Iterable[tuple[str, bytes]]) -> list[bytes]:
        """PUBLISH packets for (topic, payload) pairs, numbered on from the last call."""
        if not self.qos:
            return [publish_packet(topic, payload) for topic, payload in messages]
        out = []
        for topic, payload in messages:
            out.append(publish_packet(topic, payload, qos=1, packet_id=self._encoded % 65_535 + 1))
            self._encoded += 1
        return out

    def send(self, packets: Sequence[bytes], chunk: int = 256 * 1024) -> None:
        """Write `packets`, never more than the window ahead of the broker's acknowledgements."""
        buf = bytearray()
        for packet in packets:
            if self.qos and self.sent - self.acked >= self._window:
                self._flush(buf)
                with self._acks:
                    self._acks.wait_for(lambda: self.sent - self.acked < self._window, timeout=60)
            buf += packet
            self.sent += 1
            if len(buf) >= chunk:
                self._flush(buf)
        self._flush(buf)

    def wait_acked(self, timeout: float = 60) -> bool:
        """Until the broker acknowledged every message sent (QoS 1)."""
        with self._acks:
            return self._acks.wait_for(lambda: not self.qos or self.acked >= self.sent, timeout=timeout)

    def close(self) -> None:
        self.wait_acked()
        self._sock.sendall(DISCONNECT)
        self._sock.close()

    def _flush(self, buf: bytearray) -> None:
        if buf:
            self._sock.sendall(buf)
            buf.clear()

    def _read_acks(self) -> None:
        """Count PUBACKs (Mosquitto acknowledges QoS 1 in order, so a count is enough)."""
        pending = b""
        while True:
            try:
                data = self._sock.recv(65_536)
            except OSError:
                return
            if not data:
                return
            pending += data
            whole = len(pending) // 4 * 4  # PUBACK is 4 bytes: 0x40 0x02 and the packet id
            if pending[0:whole:4] != bytes([PUBACK]) * (whole // 4):
                raise ConnectionError(f"broker sent the publisher something other than PUBACK: {pending[:8]!r}")
            with self._acks:
                self.acked += whole // 4
                self._acks.notify_all()
            pending = pending[whole:]

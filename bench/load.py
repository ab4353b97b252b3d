"""Offer MQTT messages at full speed: QoS 0 PUBLISH packets encoded up front and written in large chunks.

A Python client publishing one message per call bounds the rate it offers (paho does about 60k/s here),
which would make the load generator, not the system under test, the figure. Encoding the packets first
and writing them as one stream leaves the broker and the subscribers as the only limits, so every
consumer in a benchmark is offered exactly the same bytes at the same speed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from gridedge.devices.drivers.mqtt_wire import DISCONNECT, connect_packet, publish_packet

__all__ = ["Blaster", "publish_packet"]


class Blaster:
    """One connection to the broker that writes pre-encoded PUBLISH packets as fast as TCP takes them."""

    def __init__(self, port: int, client_id: str = "bench-blaster") -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(client_id))
        connack = self._sock.recv(4)
        if len(connack) != 4 or connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the benchmark publisher: CONNACK {connack!r}")

    def send(self, packets: Iterable[bytes], chunk: int = 256 * 1024) -> None:
        buf = bytearray()
        for packet in packets:
            buf += packet
            if len(buf) >= chunk:
                self._sock.sendall(buf)
                buf.clear()
        if buf:
            self._sock.sendall(buf)

    def close(self) -> None:
        self._sock.sendall(DISCONNECT)
        self._sock.close()

"""The MQTT topic tree (contract v1). It mirrors the grid tree, so a jurisdiction is a wildcard
subscription and an ACL is a prefix."""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "gridedge/v1"


def event_topic(codes: tuple[str, str, str, str], gateway_id: str) -> str:
    district, street, community, grid = codes
    return f"{ROOT}/events/{district}/{street}/{community}/{grid}/{gateway_id}"


def evidence_topic(gateway_id: str, sha256: str) -> str:
    return f"{ROOT}/evidence/{gateway_id}/{sha256}"


def status_topic(gateway_id: str) -> str:
    return f"{ROOT}/status/{gateway_id}"


def command_topic(gateway_id: str, command: str) -> str:
    return f"{ROOT}/cmd/{gateway_id}/{command}"


def jurisdiction_filter(prefix: tuple[str, ...] = ()) -> str:
    """Subscription for a jurisdiction: () is the whole city, (district, street) one street, and so on."""
    if len(prefix) > 4:
        raise ValueError("a jurisdiction has at most four levels: district, street, community, grid")
    return "/".join([ROOT, "events", *prefix, "#"])


@dataclass(frozen=True, slots=True)
class EventTopic:
    codes: tuple[str, str, str, str]
    gateway_id: str


def parse_event_topic(topic: str) -> EventTopic | None:
    parts = topic.split("/")
    if len(parts) != 8 or "/".join(parts[:3]) != f"{ROOT}/events":
        return None
    return EventTopic((parts[3], parts[4], parts[5], parts[6]), parts[7])

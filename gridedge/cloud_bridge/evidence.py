"""Evidence on the wire: a snapshot's bytes on `gridedge/v1/evidence/{gateway_id}/{sha256}`, and the event
that references it by that hash, queued together.

Both go through the outbox in one `put_many` (one transaction), evidence first: so they are durable
together, retried together like any event, and the evidence reaches the broker before the event that
names it. The hash in the topic lets the centre check what it stores, and makes a resend of the same
picture idempotent. Evidence takes its event's severity, so the full-outbox policy treats the two
alike (a critical event's picture is never dropped).
"""

from __future__ import annotations

import hashlib

from gridedge.cloud_bridge.message import OutMessage, event_message
from gridedge.edge.event import GridEvent, Snapshot
from gridedge.edge.topics import evidence_topic

DEFAULT_MAX_BYTES = 512 * 1024


class EvidenceError(ValueError):
    """Evidence refused at the door: too large, or not the snapshot its event names."""


def snapshot_of(blob: bytes, *, width: int | None = None, height: int | None = None) -> Snapshot:
    """The reference an event carries for `blob` (a JPEG)."""
    return Snapshot(sha256=hashlib.sha256(blob).hexdigest(), size=len(blob), width=width, height=height)


def event_with_evidence(event: GridEvent, snapshot: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[OutMessage]:
    """The evidence publication, then the event's; put both with one `Outbox.put_many`."""
    if len(snapshot) > max_bytes:
        raise EvidenceError(f"snapshot of {len(snapshot)} bytes is over the {max_bytes}-byte limit")
    reference = event.evidence.snapshot
    digest = hashlib.sha256(snapshot).hexdigest()
    if reference is None or reference.sha256 != digest or reference.size != len(snapshot):
        raise EvidenceError("the event does not reference this snapshot (use snapshot_of)")
    evidence = OutMessage(
        topic=evidence_topic(event.source.gateway_id, digest), payload=snapshot, severity=event.severity
    )
    return [evidence, event_message(event)]

"""What ingest has seen, kept as plain counters so the API (and later Prometheus) can read them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """By reason (see admission.Reason)."""
    broker_connected: bool = False
    """True while subscribed to the jurisdiction."""

"""What each benchmark ran on, recorded in its JSON under `settings`.

Figures are only comparable across versions, and only mean something to a user, when they were taken
on the settings the docs tell users to deploy. The broker's limits are read from the shipped broker
configuration (deploy/mosquitto/mosquitto.conf), so a change there changes what the benchmarks run on,
for GridEdge and its peers alike; anything a scenario runs differently is named as a deviation.
"""

from __future__ import annotations

from pathlib import Path

from gridedge.devtools.broker import mosquitto_conf

SHIPPED_BROKER_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "mosquitto.conf"
BROKER_LIMITS = ("max_queued_messages", "max_inflight_messages", "max_packet_size", "set_tcp_nodelay", "persistence")

OUTBOX = "SQLite WAL, synchronous=FULL (fsync per group commit)"
CENTRE_SQLITE = "SQLite WAL, synchronous=FULL"
CENTRE_POSTGRES = "PostgreSQL, durable: fsync=on, synchronous_commit=on, full_page_writes=on"


def _limits(conf: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in conf.splitlines():
        key, _, value = line.partition(" ")
        if key in BROKER_LIMITS:
            found[key] = value.strip()
    return found


def broker(persistence: bool = True, max_queued: int | None = None) -> dict[str, object]:
    """The limits of the broker a benchmark starts (`MosquittoProcess` with these arguments), each difference
    from the shipped configuration named (Mosquitto's own default stands where a file sets nothing)."""
    queued = {} if max_queued is None else {"max_queued": max_queued}
    conf = mosquitto_conf(0, Path(), persistence=persistence, **queued)
    shipped, used = _limits(SHIPPED_BROKER_CONF.read_text()), _limits(conf)
    deviations = [
        f"{key} {used.get(key, 'Mosquitto default')} (shipped {shipped.get(key, 'Mosquitto default')})"
        for key in BROKER_LIMITS
        if used.get(key) != shipped.get(key)
    ]
    return {**used, "deviations": deviations}


AGENT = {"outbox": OUTBOX, "uplink_qos": 1}  # the agent as deployed (gateway.yaml defaults)

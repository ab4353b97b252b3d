"""A gateway process for crash tests, killed with SIGKILL by the test.

python -m tests.cloud_bridge.child uplink PORT OUTBOX           run an uplink until killed
python -m tests.cloud_bridge.child put OUTBOX                   put numbered messages, printing each acknowledged one
python -m tests.cloud_bridge.child burst PORT OUTBOX N R        put `burst(N, R)` in batches of 10 while the uplink
                                                                drains it, printing how many are durable so far
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gridedge.cloud_bridge import Outbox, Uplink
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.reconnect import Backoff
from tests.cloud_bridge.helpers import GATEWAY, burst, numbered


async def run_uplink(port: int, path: Path) -> None:
    with Outbox(path) as outbox:
        await Uplink(outbox, BrokerConfig(host="127.0.0.1", port=port), GATEWAY).run(asyncio.Event())


def put_until_killed(path: Path) -> None:
    with Outbox(path) as outbox:
        n = 0
        while True:
            outbox.put_many([numbered(i) for i in range(n, n + 10)])
            n += 10
            print(n - 1, flush=True)  # noqa: T201 - the test reads what was acknowledged from stdout


async def put_while_draining(port: int, path: Path, incidents: int, revisions: int) -> None:
    messages = burst(incidents, revisions)
    with Outbox(path) as outbox:
        link = BrokerConfig(host="127.0.0.1", port=port)
        # A narrow window keeps the uplink behind the producer, so the kill finds events in flight.
        uplink = Uplink(outbox, link, GATEWAY, window=2, backoff=Backoff(0.05, 0.5))
        stop = asyncio.Event()
        task = asyncio.create_task(uplink.run(stop))
        for start in range(0, len(messages), 10):
            await asyncio.to_thread(outbox.put_many, messages[start : start + 10])
            uplink.notify()
            print(min(start + 10, len(messages)), flush=True)  # noqa: T201 - durable so far, read by the test
            await asyncio.sleep(0.001)
        await task


if __name__ == "__main__":
    if sys.argv[1] == "uplink":
        asyncio.run(run_uplink(int(sys.argv[2]), Path(sys.argv[3])))
    elif sys.argv[1] == "burst":
        asyncio.run(put_while_draining(int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
    else:
        put_until_killed(Path(sys.argv[2]))

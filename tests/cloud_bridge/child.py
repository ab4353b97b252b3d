"""A gateway process for crash tests, killed with SIGKILL by the test.

python -m tests.cloud_bridge.child uplink PORT OUTBOX   run an uplink until killed
python -m tests.cloud_bridge.child put OUTBOX           put numbered messages, printing each acknowledged one
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gridedge.cloud_bridge import Outbox, Uplink
from gridedge.edge.broker import BrokerConfig
from tests.cloud_bridge.helpers import GATEWAY, numbered


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


if __name__ == "__main__":
    if sys.argv[1] == "uplink":
        asyncio.run(run_uplink(int(sys.argv[2]), Path(sys.argv[3])))
    else:
        put_until_killed(Path(sys.argv[2]))

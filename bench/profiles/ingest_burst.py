"""Profile the agent during the ingest scenario's QoS 1 burst, and say where the machine's cores go.

`python -m bench.profiles.ingest_burst [MESSAGES]` starts a broker on the shipped limits and the agent
as `bench/scenarios/ingest.py` does, records the agent with py-spy over the drain, and prints: each
process's CPU share over the drain (agent, Mosquitto, the publisher in this process), and the agent's
samples grouped by stage. The text it prints is kept as bench/profiles/ingest-burst.txt.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.load import Blaster
from bench.profiles.spy import recording, stages
from bench.scenarios import ingest
from gridedge.devtools.broker import MosquittoProcess, free_port

# A sample goes to the first stage (in this order) that has a frame in its stack.
STAGES = (
    ("decoding (devices/decode.py: JSON, typed readings)", "devices/decode.py"),
    ("the rules (rules/)", "gridedge/rules/"),
    ("the local view (gateway/state.py)", "gateway/state.py"),
    ("outbox commit (cloud_bridge/outbox.py, writer thread)", "cloud_bridge/"),
    ("MQTT in: socket reads, frames (edge/mqtt_wire.py)", "edge/mqtt_wire.py"),
    ("MQTT in: routing to profiles (devices/drivers/mqtt.py)", "devices/drivers/"),
    ("the local API and /metrics", "gateway/api.py"),
    ("batching and hand-overs (gateway/pipeline.py)", "gateway/pipeline.py"),
    ("asyncio: the event loop, transports", "asyncio/"),
    ("threads' hand-offs (executor queues)", "concurrent/futures"),
)


def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="gridedge-profile-") as tmp:
        work = Path(tmp)
        broker = MosquittoProcess(free_port(), work, persistence=True)
        broker.start()
        assert broker.process is not None
        try:
            (work / "agent").mkdir()
            with ingest.agent(broker.port, work / "agent") as consumer:
                messages = ingest._stream(count, 50_000, seed=1)
                blaster = Blaster(broker.port, "bench-burst")
                packets = blaster.packets(ingest._pairs(messages))
                processes = {
                    "agent": psutil.Process(consumer.pid),
                    "mosquitto": psutil.Process(broker.process.pid),
                    "publisher and watcher (this process)": psutil.Process(),
                }
                before_cpu = {k: sum(p.cpu_times()[:2]) for k, p in processes.items()}
                before = consumer.counts()
                assert before is not None
                with recording(consumer.pid, work / "raw.txt"):
                    time.sleep(0.5)  # py-spy attached
                    started = time.time()
                    blaster.send(packets)
                    drained, undecided = ingest._decided(consumer, before, len(messages), quiet_s=10)
                    elapsed = drained - started
                    busy = {k: (sum(p.cpu_times()[:2]) - before_cpu[k]) / elapsed for k, p in processes.items()}
                blaster.close()
        finally:
            broker.stop()
        raw = (work / "raw.txt").read_text()
    print(f"QoS 1 burst of {count:,} messages, shipped broker limits, agent single process")
    print(f"drained (every message decided) at {count / (drained - started):,.0f} messages/s; {undecided} not decided")
    print("cores busy over the drain: " + ", ".join(f"{k} {v:.2f}" for k, v in busy.items()))
    print(f"of {psutil.cpu_count()} cores; load average before: {psutil.getloadavg()[0]:.2f}")
    print("agent's samples by stage (py-spy record -r 200, active threads):")
    for stage, share in stages(raw, STAGES):
        print(f"  {share:6.1%}  {stage}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)

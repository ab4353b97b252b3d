"""A broker for the demo and the tests: Mosquitto when installed, else amqtt embedded in the process.

amqtt speaks MQTT 3.1.1 only and is lenient with retained messages: good enough to show the demo on
a laptop without Mosquitto, never used by the tests of the contract (they start a real Mosquitto).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


def mosquitto_conf(port: int, workdir: Path, persistence: bool = False, max_queued: int = 200_000) -> str:
    """The settings every GridEdge deployment should have (see docs): no Nagle delay, queues sized for
    bursts of QoS 1 messages instead of the silent 1000-message default. With `persistence`, sessions
    and queued messages survive a broker restart."""
    saved = f"persistence true\npersistence_location {workdir}/\n" if persistence else "persistence false\n"
    return (
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "set_tcp_nodelay true\n"
        f"max_queued_messages {max_queued}\n"
        "max_inflight_messages 1000\n"
        f"{saved}"
        "user root\n"
        f"log_dest file {workdir / 'mosquitto.log'}\n"
    )


@dataclass
class MosquittoProcess:
    port: int
    workdir: Path
    persistence: bool = False
    max_queued: int = 200_000  # messages held per client before Mosquitto drops QoS 0 ones
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(mosquitto_conf(self.port, self.workdir, self.persistence, self.max_queued))
        self.process = subprocess.Popen([binary, "-c", str(conf)])  # noqa: S603 - fixed binary, our own config
        for _ in range(int(timeout / 0.02)):
            if port_open(self.port):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        log = (self.workdir / "mosquitto.log").read_text() if (self.workdir / "mosquitto.log").exists() else ""
        self.stop()
        raise RuntimeError(f"mosquitto did not start on port {self.port}: {log[-500:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@asynccontextmanager
async def local_broker(workdir: Path, port: int | None = None) -> AsyncIterator[str]:
    """Start a broker on 127.0.0.1 and yield its URL; stop it on exit."""
    port = port or free_port()
    if mosquitto_binary() is not None:
        mosquitto = MosquittoProcess(port, workdir)
        await asyncio.to_thread(mosquitto.start)
        try:
            yield mosquitto.url
        finally:
            await asyncio.to_thread(mosquitto.stop)
        return
    from amqtt.broker import Broker

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        await broker.shutdown()

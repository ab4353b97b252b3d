"""The demo's parts are supervised: a crashed part is logged and started again while the others go
on, and the broker the demo started is started again when its process dies."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import psutil
import pytest

from gridedge.devtools import demo
from gridedge.devtools.broker import port_open
from gridedge.devtools.supervise import supervised
from gridedge.simulators.smoke_alarm import SmokeAlarmFleet
from tests.servers import Mosquitto, free_port


async def test_a_crashed_part_is_logged_and_run_again_while_the_others_go_on(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    runs: list[int] = []
    beats: list[float] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError(f"bug number {len(runs)}")
        await stop.wait()

    async def steady() -> None:
        while not stop.is_set():
            beats.append(asyncio.get_running_loop().time())
            await asyncio.sleep(0.05)

    with caplog.at_level(logging.ERROR):
        async with asyncio.TaskGroup() as tg:
            tg.create_task(supervised("flaky", flaky, stop))
            other = tg.create_task(supervised("steady", steady, stop))
            async with asyncio.timeout(10):
                while len(runs) < 3:
                    await asyncio.sleep(0.02)
            assert not other.done()
            stop.set()
    assert len(runs) == 3
    crashes = [r for r in caplog.records if "flaky crashed" in r.getMessage()]
    assert len(crashes) == 2
    assert all(r.exc_info is not None for r in crashes)  # with its traceback
    assert len(beats) > 2


async def test_the_demo_broker_is_started_again_when_its_process_dies(tmp_path: Path) -> None:
    broker = Mosquitto(free_port(), tmp_path)
    await asyncio.to_thread(broker.start)
    watch = asyncio.create_task(broker.keep_running(every_s=0.1))
    try:
        assert broker.process is not None
        first = broker.process.pid
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(10):
            while broker.process is None or broker.process.pid == first or not port_open(broker.port):
                await asyncio.sleep(0.05)
        assert broker.process.poll() is None
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await asyncio.to_thread(broker.stop)


@pytest.mark.integration
async def test_the_demo_survives_a_crashed_simulator_and_a_killed_broker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The real demo in this process, with its own Mosquitto: the simulator crashes once (an injected
    bug) and the broker is SIGKILLed; the demo repairs both and ends normally at its duration."""
    real_run = SmokeAlarmFleet.run
    crashed: list[bool] = []

    async def crash_once(self: SmokeAlarmFleet) -> None:
        if not crashed:
            crashed.append(True)
            raise RuntimeError("injected simulator bug")
        await real_run(self)

    monkeypatch.setattr(SmokeAlarmFleet, "run", crash_once)
    me = psutil.Process()
    with caplog.at_level(logging.INFO):
        running = asyncio.create_task(demo.run_demo(None, 14.0, free_port()))
        async with asyncio.timeout(40):
            while not (brokers := [p for p in me.children() if p.name() == "mosquitto"]):
                await asyncio.sleep(0.1)
            await asyncio.sleep(4)
            brokers[0].kill()
            await running  # ends at its duration, without an exception
    messages = [r.getMessage() for r in caplog.records]
    assert any("simulator crashed" in m for m in messages)
    assert any("mosquitto on port" in m and "starting it again" in m for m in messages)
    assert any("SA-0002 alarm" in m for m in messages)  # the scenario went on after the crash

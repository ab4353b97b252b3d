"""Fifty parallel wrong logins against the real centre (real argon2 cost, 64 MiB a check): at most
two checks run at once, the rest are refused at once, memory stays bounded, the account is locked."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from gridedge.center.throttle import ThrottleLimits
from tests.security.centre import PASSWORD, centre_config, form_token, logged_in, running
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

PARALLEL = 50
MIB = 1 << 20


class PeakRss:
    """Samples this process's resident memory every 5 ms while in use (the centre runs in it)."""

    def __init__(self) -> None:
        self._me = psutil.Process()
        self.baseline = self.peak = self._me.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler")

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._me.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_fifty_parallel_wrong_logins_are_throttled_with_memory_bounded(broker: Mosquitto, tmp_path: Path) -> None:
    config = centre_config(broker.port, f"sqlite:///{tmp_path / 'centre.db'}")
    async with running(config) as base, httpx.AsyncClient(base_url=base, timeout=30) as attacker:
        token = form_token((await attacker.get("/login")).text)

        async def guess(i: int) -> httpx.Response:
            return await attacker.post(
                "/login", data={"username": "comm1", "password": f"guess-{i:04d}", "csrf": token}
            )

        with PeakRss() as rss:
            answers = await asyncio.gather(*(guess(i) for i in range(PARALLEL)))
        statuses = sorted(r.status_code for r in answers)
        checked = statuses.count(401)
        growth_mib = (rss.peak - rss.baseline) / MIB
        sys.stderr.write(
            f"\n{PARALLEL} parallel wrong logins: {checked} checked (401), {statuses.count(429)} refused (429), "
            f"peak RSS growth {growth_mib:.0f} MiB\n"
        )
        assert set(statuses) <= {401, 429}
        # Two checks at a time and eight waiting; once five have failed the account refuses outright.
        limits = ThrottleLimits()
        assert checked <= limits.per_account + limits.max_hashing + limits.max_waiting
        assert statuses.count(429) >= PARALLEL - 15
        assert all(r.headers.get("retry-after") for r in answers if r.status_code == 429)
        # Unbounded, 50 checks at 64 MiB each would be over 3 GiB.
        assert growth_mib < 400

        # The account is now locked, even for the right password; another officer from the same address is not.
        token = form_token((await attacker.get("/login")).text)
        right = await attacker.post("/login", data={"username": "comm1", "password": PASSWORD, "csrf": token})
        assert right.status_code == 429
        assert "too many failed logins" in right.text


async def test_the_address_limit_holds_across_usernames(broker: Mosquitto, tmp_path: Path) -> None:
    config = centre_config(broker.port, f"sqlite:///{tmp_path / 'centre.db'}")
    async with running(config) as base, httpx.AsyncClient(base_url=base, timeout=30) as attacker:
        token = form_token((await attacker.get("/login")).text)
        statuses = []
        for i in range(22):  # one guess per made-up username: the per-account limit never trips
            r = await attacker.post("/login", data={"username": f"user{i}", "password": "guess-guess", "csrf": token})
            statuses.append(r.status_code)
            token = form_token(r.text)  # each answer is a fresh login form
        assert statuses[:20] == [401] * 20
        assert statuses[20:] == [429, 429]
        # A real officer from that address is refused too until the window passes.
        r = await attacker.post("/login", data={"username": "comm1", "password": PASSWORD, "csrf": token})
        assert r.status_code == 429
    async with running(config) as base, httpx.AsyncClient(base_url=base, timeout=30) as fresh:
        await logged_in(fresh, "comm1", PASSWORD)  # the limits are per process: a restart forgets them

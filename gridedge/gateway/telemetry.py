"""Readings to an InfluxDB v2 write API: batched, bounded, retried, downsampled, off the alarm path.

`offer()` is what the agent calls with every decoded batch: it only downsamples and appends to a
bounded buffer, so it costs the rules engine microseconds whatever the server does. The writer task
sends batches through influxdb-client's synchronous write API on its own thread, so a slow or dead
server holds up neither the event loop nor the executor threads the outbox uses.

Why not influxdb-client's own batching mode: its buffer has no bound, and during a long outage a
gateway with a few GB of memory must choose what to lose. Ours keeps the newest `buffer` points and
drops the oldest (telemetry only: alarms go through the outbox, which loses nothing). A failed batch
is retried with jittered exponential backoff until it is written or pushed out by newer points.

Values are written as float fields (`value`, booleans as 0/1) so that a series never changes type;
text values are not telemetry and are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision

from gridedge.edge.reading import Reading
from gridedge.edge.reconnect import Backoff
from gridedge.gateway.ops_settings import TelemetryConfig

log = logging.getLogger(__name__)

FINAL_FLUSH_S = 2.0
"""How long a stop may wait for the last buffered points."""


class Sample(NamedTuple):
    device_id: str
    point: str
    unit: str | None
    value: float
    ts_ms: int


class InfluxSink:
    def __init__(self, config: TelemetryConfig, gateway_id: str, backoff: Backoff | None = None) -> None:
        self.config = config
        self.gateway_id = gateway_id
        self._buffer: deque[Sample] = deque()
        self._last_ts: dict[tuple[str, str], float] = {}
        self._full = asyncio.Event()
        self._backoff = backoff or Backoff(initial=0.5, maximum=10.0)
        self.counters: Counter[str] = Counter()  # offered, downsampled, not_numeric, written, dropped, write_errors
        self.last_error: str | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def offer(self, readings: Sequence[Reading]) -> None:
        """Queue what should be written; never waits, never raises for a full buffer (drops the oldest)."""
        cfg = self.config
        for r in readings:
            self.counters["offered"] += 1
            if isinstance(r.value, bool | int | float):
                value = float(r.value)
            else:
                self.counters["not_numeric"] += 1
                continue
            interval = cfg.min_interval_by_point.get(r.point, cfg.min_interval_by_point.get(r.role or "", None))
            interval = cfg.min_interval_s if interval is None else interval
            key = (r.device_id, r.point)
            last = self._last_ts.get(key)
            if interval > 0 and last is not None and r.ts - last < interval:
                self.counters["downsampled"] += 1
                continue
            self._last_ts[key] = r.ts
            if len(self._buffer) >= cfg.buffer:
                self._buffer.popleft()
                self.counters["dropped"] += 1
            self._buffer.append(Sample(r.device_id, r.point, r.unit, value, int(r.ts * 1000)))
        if len(self._buffer) >= cfg.batch:
            self._full.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Write until `stop` is set, then try once more, briefly, to send what is left."""
        cfg = self.config
        token = cfg.token.get_secret_value() if cfg.token else ""  # empty: no Authorization header
        with (
            InfluxDBClient(str(cfg.url), token=token, org=cfg.org, timeout=int(cfg.timeout_s * 1000)) as client,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="telemetry") as thread,
        ):
            writer = client.write_api(write_options=SYNCHRONOUS)

            def write(batch: list[Sample]) -> None:
                writer.write(cfg.bucket, cfg.org, record=self._points(batch), write_precision=WritePrecision.MS)

            async def send() -> bool:
                batch = [self._buffer[i] for i in range(min(cfg.batch, len(self._buffer)))]
                try:
                    await asyncio.get_running_loop().run_in_executor(thread, write, batch)
                except Exception as exc:  # any failure of the server or the network: retry later
                    self._failed(exc)
                    return False
                self._written(batch)
                return True

            while not stop.is_set():
                await _wait_any(stop, self._full, cfg.flush_interval_s)
                self._full.clear()
                while self._buffer and not stop.is_set():
                    if not await send():
                        await _wait_any(stop, None, self._backoff.next_delay())
                        break
                    self._backoff.reset()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FINAL_FLUSH_S):
                    while self._buffer and await send():
                        pass
        if self._buffer:
            log.warning("telemetry: %d points not written at stop", len(self._buffer))

    def _points(self, batch: list[Sample]) -> list[dict[str, Any]]:
        base = {"gateway": self.gateway_id}
        return [
            {
                "measurement": self.config.measurement,
                "tags": {**base, "device": s.device_id, "point": s.point, **({"unit": s.unit} if s.unit else {})},
                "fields": {"value": s.value},
                "time": s.ts_ms,
            }
            for s in batch
        ]

    def _written(self, batch: list[Sample]) -> None:
        """Remove what was sent; points pushed out meanwhile were counted as dropped already."""
        sent = set(map(id, batch))
        while self._buffer and id(self._buffer[0]) in sent:
            self._buffer.popleft()
        self.counters["written"] += len(batch)
        if self.last_error is not None:
            log.info("telemetry: writing again to %s", self.config.url)
            self.last_error = None

    def _failed(self, exc: BaseException) -> None:
        self.counters["write_errors"] += 1
        first = self.last_error is None
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if first:
            log.warning(
                "telemetry: cannot write to %s (%s); buffering up to %d points",
                self.config.url,
                self.last_error,
                self.config.buffer,
            )


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, seconds: float) -> None:
    waits: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    if other is not None:
        waits.append(asyncio.create_task(other.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()

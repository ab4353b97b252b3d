"""Replaying a recorded reading stream through the engine on a fake clock, faster than real time.

A recording is JSON lines (docs/rules.md). Each line is a reading:
    {"ts": 1700000000.5, "device": "P-1", "point": "port3.temperature", "value": 71.5,
     "unit": "degC", "role": "temperature", "quality": "good"}
or a device, registered before its readings so that templates and correlations know its site and
absence rules watch it:
    {"kind": "device", "device": "P-1", "site": "No. 3 e-bike shed", "offline_after_s": 30}
The clock follows the readings' timestamps and ticks every second of recorded time in between, so
`for_s`, keep-firing and absence fire when they would have live.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, ValidationError

from gridedge.edge.alert import Alert
from gridedge.edge.clock import FakeClock
from gridedge.edge.config import StrictModel
from gridedge.edge.reading import Quality, Reading
from gridedge.rules.engine import RuleEngine

TICK_S = 1.0


class RecordedReading(StrictModel):
    kind: Literal["reading"] = "reading"
    ts: float = Field(description="Seconds since the epoch, UTC, as the device stamped it.")
    device: str
    point: str
    value: bool | int | float | str | None
    unit: str | None = None
    role: str | None = None
    quality: Quality = Quality.GOOD

    def reading(self) -> Reading:
        return Reading(self.device, self.point, self.value, self.ts, self.unit, self.role, self.quality)


class RecordedDevice(StrictModel):
    kind: Literal["device"]
    device: str
    site: str
    address: str = ""
    offline_after_s: float | None = Field(default=None, gt=0)
    roles: list[str] | None = None


Record = RecordedReading | RecordedDevice


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    problem: str


def parse_recording(lines: Iterable[str]) -> Iterator[Record | BadLine]:
    """Records in order; a line that is not one is a BadLine naming its line and field, and the rest go on."""
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"(line): not JSON: {exc.msg}")
            continue
        try:
            is_device = isinstance(doc, dict) and doc.get("kind") == "device"
            yield RecordedDevice.model_validate(doc) if is_device else RecordedReading.model_validate(doc)
        except ValidationError as err:
            e = err.errors()[0]
            field = ".".join(str(p) for p in e["loc"]) or "(line)"
            yield BadLine(number, f"{field}: {e['msg']}")


def replay(engine: RuleEngine, clock: FakeClock, records: Iterable[Record], tail_s: float = 0.0) -> Iterator[Alert]:
    """Every revision the engine raises while the records play; then `tail_s` seconds of silence.
    Devices listed before the first reading are registered at its time: silent from the start, not before."""
    waiting: list[RecordedDevice] = []
    started = False
    for record in records:
        if isinstance(record, RecordedDevice):
            waiting.append(record)
            if started:
                _register(engine, waiting)
            continue
        if not started:
            clock.t, started = record.ts, True
            _register(engine, waiting)
        yield from _run_until(engine, clock, record.ts)
        yield from engine.process([record.reading()])
        yield from engine.tick()
    _register(engine, waiting)
    yield from _run_until(engine, clock, clock.t + tail_s)


def _register(engine: RuleEngine, devices: list[RecordedDevice]) -> None:
    for d in devices:
        engine.register_device(d.device, {"site": d.site, "address": d.address}, d.offline_after_s, d.roles)
    devices.clear()


def _run_until(engine: RuleEngine, clock: FakeClock, until: float) -> Iterator[Alert]:
    while clock.t + TICK_S <= until:
        clock.advance(TICK_S)
        yield from engine.tick()
    clock.t = max(clock.t, until)

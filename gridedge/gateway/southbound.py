"""The agent's southbound side: profiles and inventory bound into devices, the drivers that read them
(one MQTT session, one coordinator per Modbus bus), and changes to those files applied while running.

A changed profile or inventory is loaded and checked whole before anything switches over: a file with
a mistake is logged with its file, line and field, counted, and the running devices stay as they were.
The MQTT session is restarted only when its subscriptions change (the broker keeps what arrives
meanwhile: persistent session, QoS 1); Modbus buses restart at once, the next poll is on time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gridedge.devices.binding import DeviceBinding, bind
from gridedge.devices.drivers.modbus import BusCounters, ModbusBusDriver, polled_devices
from gridedge.devices.drivers.mqtt import CommittedSink, MqttDriver, MqttRouter
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles, profile_files
from gridedge.devices.registers import WriteRefused
from gridedge.edge.clock import Clock
from gridedge.edge.config import load_yaml
from gridedge.edge.errors import ConfigError
from gridedge.edge.reading import Reading
from gridedge.gateway.settings import GatewayConfig
from gridedge.gateway.watch import Stamp, files_stamp

log = logging.getLogger(__name__)

ReadingSink = Callable[[list[Reading]], Awaitable[None]]


def load_bindings(config: GatewayConfig) -> list[DeviceBinding]:
    """Profiles (built-in, then the configured directories) bound to the inventory and its file."""
    buses = [b.name for b in config.southbound.modbus]
    twice = sorted({n for n in buses if buses.count(n) > 1})
    if twice:
        raise ConfigError(config.source, [f"1: southbound.modbus: bus name {n!r} appears twice" for n in twice])
    profiles = load_profiles([BUILTIN_PROFILES, *config.profile_dirs])
    # Each part is bound against its own file, so an error names the file and line the device is written on.
    bindings = bind(config.inventory, profiles, config.source, frozenset(buses), under=("inventory",))
    if config.inventory_file is not None:
        extra = load_yaml(config.inventory_file, Inventory)
        Inventory.model_validate({"devices": [*config.inventory.devices, *extra.devices]})  # ids unique across both
        bindings += bind(extra, profiles, str(config.inventory_file), frozenset(buses))
    return bindings


def device_files_stamp(config: GatewayConfig) -> Stamp:
    """What changes when an integrator edits a profile or the inventory file."""
    paths = [p for d in config.profile_dirs if d.is_dir() for p in profile_files(d)]
    if config.inventory_file is not None:
        paths.append(config.inventory_file)
    return files_stamp(paths)


class Southbound:
    def __init__(
        self,
        config: GatewayConfig,
        bindings: list[DeviceBinding],
        sink: ReadingSink,
        clock: Clock,
        committed_sink: CommittedSink | None = None,
        *,
        client_suffix: str = "",
        run_mqtt: bool = True,
        per_device_topics: bool = False,
    ) -> None:
        """`sink` takes polled readings (Modbus: the next poll reads again); `committed_sink`, when given,
        takes MQTT readings and returns a future done once they are committed: only then are their
        messages acknowledged to the broker (devices/drivers/mqtt.py). `run_mqtt` False: no MQTT session
        here (a sharded agent's main process: the shards hold them, each its own client id, `client_suffix`,
        subscribed to its own devices' topics only, `per_device_topics`)."""
        self._config = config
        self._sink = sink
        self._clock = clock
        self.router = MqttRouter(bindings, per_device=per_device_topics)
        self.mqtt = MqttDriver(
            config.southbound.mqtt,
            self.router,
            committed_sink or sink,
            clock,
            f"gridedge-agent-{config.gateway.id}{client_suffix}",
        )
        self._run_mqtt = run_mqtt
        self.buses: list[ModbusBusDriver] = []
        self.modbus_counters: dict[str, BusCounters] = {}  # by bus name; outlive drivers restarted on a reload
        self._bindings = bindings
        self._changed = asyncio.Event()
        self._mqtt_restart = False

    def apply(self, bindings: list[DeviceBinding]) -> None:
        """Switch to these devices; the running drivers pick them up."""
        before = self.router.subscriptions
        self.router.rebind(bindings)
        self._mqtt_restart = self._mqtt_restart or self.router.subscriptions != before
        self._bindings = bindings
        self._changed.set()

    async def write_point(self, device_id: str, point: str, value: object) -> object:
        """Set a writable Modbus point and read it back (devices/drivers/modbus.py `write`)."""
        driver = next((d for d in self.buses if any(p.id == device_id for p in d.devices)), None)
        if driver is None:
            raise WriteRefused(f"device {device_id!r} is not a polled Modbus device of this gateway")
        return await driver.write(device_id, point, value)

    def _bus_drivers(self) -> list[ModbusBusDriver]:
        return [
            ModbusBusDriver(
                bus, devices, self._sink, self._clock, self.modbus_counters.setdefault(bus.name, BusCounters())
            )
            for bus in self._config.southbound.modbus
            if (devices := polled_devices(self._bindings, bus.name))
        ]

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run the drivers until cancelled, or until `stop`: then the MQTT session reads no more and
        waits for what it handed over to be acknowledged; restart what a change needs restarted."""
        mqtt = asyncio.create_task(self._mqtt(stop), name="southbound-mqtt")
        self.buses = self._bus_drivers()
        buses = [asyncio.create_task(d.run(), name=f"modbus-{d.bus.name}") for d in self.buses]
        try:
            while True:
                changed = asyncio.create_task(self._changed.wait())
                done, _ = await asyncio.wait({changed, mqtt, *buses}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                for task in done - {changed}:
                    task.result()  # a driver does not end by itself: if it failed, so does the agent
                if mqtt.done():  # stopped
                    return
                self._changed.clear()
                await _cancel(buses)
                self.buses = self._bus_drivers()
                buses = [asyncio.create_task(d.run(), name=f"modbus-{d.bus.name}") for d in self.buses]
                if self._mqtt_restart and self._run_mqtt:
                    self._mqtt_restart = False
                    await _cancel([mqtt])
                    mqtt = asyncio.create_task(self._mqtt(stop), name="southbound-mqtt")
        finally:
            await _cancel([mqtt, *buses])

    async def _mqtt(self, stop: asyncio.Event | None) -> None:
        if self._run_mqtt:
            await self.mqtt.run(stop)
        else:  # ends as the session would: at `stop`
            await (stop or asyncio.Event()).wait()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

"""IR shopfront sensors over a real Mosquitto, decoded by the built-in profile."""

import asyncio

import aiomqtt
import pytest

from gridedge.devices.binding import bind
from gridedge.devices.drivers.mqtt import MqttRouter
from gridedge.devices.inventory import DeviceEntry, Inventory
from gridedge.devices.profile import BUILTIN_PROFILES, load_profiles
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.grid import Location
from gridedge.edge.reading import Reading
from gridedge.simulators.ir_sensor import IrAction, IrSensorFleet, IrStep, ShopfrontZone
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


def test_a_passer_by_is_brief_and_goods_dwell() -> None:
    zone = ShopfrontZone("IR-1")
    zone.apply(IrAction.PASSER_BY, 100.0)
    assert zone.presence(101.0)
    assert not zone.presence(102.0)
    assert zone.update(102.0)
    assert zone.occupied_since is None
    zone.apply(IrAction.GOODS_OUT, 110.0)
    assert zone.presence(400.0)
    assert b'"dwell_s":290.0' in zone.message(400.0)
    assert zone.beam_breaks == 2


async def test_the_profile_reads_what_the_sensor_sends(broker: Mosquitto) -> None:
    url = BrokerConfig.model_validate(broker.url)
    inventory = Inventory(devices=[DeviceEntry(id="IR-1", profile="ir-shopfront-sensor", location=Location(site="x"))])
    router = MqttRouter(bind(inventory, load_profiles([BUILTIN_PROFILES]), "inv"))
    script = [IrStep(0.2, "IR-1", IrAction.PASSER_BY), IrStep(0.6, "IR-1", IrAction.GOODS_OUT)]
    fleet = IrSensorFleet(url, ["IR-1"], heartbeat_s=0.3, script=script)
    received: list[list[Reading]] = []
    async with aiomqtt.Client(url.host, url.port, identifier="test-ir") as client:
        await client.subscribe(router.subscriptions[0], qos=1)
        sim = asyncio.create_task(fleet.run())
        try:
            async with asyncio.timeout(10):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    received.append(router.route(message.topic.value, message.payload, 0.0))
                    values = {r.point: r.value for r in received[-1]}
                    if values["presence"] and values["dwell"] >= 1.0:  # type: ignore[operator]
                        break
        finally:
            sim.cancel()
            await asyncio.gather(sim, return_exceptions=True)
    states = [{r.point: r.value for r in batch} for batch in received]
    assert router.counters["rejected_fields"] == 0
    assert {"presence": True, "dwell": 0.0, "beam_breaks": 1} in states  # the passer-by
    assert states[-1]["beam_breaks"] == 2
    assert {r.role for r in received[-1]} == {"presence", "dwell", "beam_breaks"}

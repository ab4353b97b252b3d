"""The pile's physics, without a wire: plausible charging curves and each injectable fault."""

import pytest

from gridedge.simulators.charging_pile import AMBIENT_C, CHARGER_W, ChargingPile, ChargingPort, Fault, PortState


def _charged(port: ChargingPort, hours: float) -> ChargingPort:
    pile = ChargingPile(ports=[port])
    pile.advance(hours * 3600)
    return port


def test_a_battery_charges_tapers_and_the_pile_cuts_power_when_full() -> None:
    port = ChargingPort()
    port.plug_in(soc=0.5)
    _charged(port, 0.1)
    assert port.state is PortState.CHARGING
    assert port.power_w == CHARGER_W
    assert port.temperature_c > AMBIENT_C + 3
    _charged(port, 1.0)
    assert 0 < port.power_w < CHARGER_W  # constant-voltage phase
    _charged(port, 6)
    assert port.soc >= 0.999
    assert (port.relay, port.power_w, port.state) == (False, 0.0, PortState.FULL)
    assert port.energy_kwh == pytest.approx(0.5 * 0.6, rel=0.05)
    _charged(port, 2)
    assert port.temperature_c == pytest.approx(AMBIENT_C, abs=0.5)  # cools down once the relay is open


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (Fault.OVER_CURRENT, lambda p: p.power_w == 6 * CHARGER_W and p.state is PortState.FAULT),
        (Fault.OVER_TEMPERATURE, lambda p: p.temperature_c > 80),
        (Fault.OVERCHARGE, lambda p: p.soc >= 0.999 and p.charging and p.power_w == CHARGER_W),
        (Fault.STUCK_ON, lambda p: p.relay and p.soc >= 0.999),
    ],
)
def test_injected_faults(fault: Fault, check: object) -> None:
    port = ChargingPort(faults={fault})
    port.plug_in(soc=0.7)
    _charged(port, 8)
    assert check(port)  # type: ignore[operator]


def test_a_stuck_relay_stays_closed_after_unplugging() -> None:
    port = ChargingPort(faults={Fault.STUCK_ON})
    port.plug_in()
    port.unplug()
    assert port.relay
    healthy = ChargingPort()
    healthy.plug_in()
    healthy.unplug()
    assert not healthy.relay


def test_register_map_of_the_vendor_manual() -> None:
    pile = ChargingPile(arc_fault=True, smoke=True)
    pile.ports[2].plug_in(soc=0.3)
    pile.advance(60)
    regs = pile.registers()
    assert len(regs) == 176
    assert regs[0] << 16 | regs[1] == round(CHARGER_W)
    assert regs[2] == 0b101
    port3 = regs[48:56]
    assert port3[2] == round(CHARGER_W)
    assert port3[6] == 0b11
    assert port3[7] == PortState.CHARGING

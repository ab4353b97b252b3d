"""`gridedge doctor`: what is wrong with this gateway, one line per check, for a technician on a ladder.

Each check answers ok or what to fix; none changes anything. Checks that need a valid config are
skipped when the config is wrong (its own problems are listed instead, each with file:line:field).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from gridedge.devices.buses import ModbusTcpBus
from gridedge.devices.profile import stray_files
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.errors import ConfigError
from gridedge.gateway.settings import GatewayConfig, load_gateway_config
from gridedge.gateway.southbound import load_bindings

TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def diagnose(config_path: Path) -> list[Check]:
    try:
        config = load_gateway_config(config_path)
    except ConfigError as err:
        return [Check("config", False, problem) for problem in str(err).splitlines()]
    checks = [Check("config", True, f"{config_path}: gateway {config.gateway.id}")]
    checks += [*_profile_dirs(config), *_inventory(config), *_buses(config)]
    checks += [_state_dir(config.state_dir), _api_port(config)]
    checks += asyncio.run(_brokers(config))
    if config.telemetry is not None:
        checks.append(_telemetry(str(config.telemetry.url)))
    checks += list(_serial_ports(config))
    checks += list(_cameras(config))
    return checks


def _profile_dirs(config: GatewayConfig) -> Iterator[Check]:
    """Every profile directory exists, and holds no file that looks meant as a profile but is not one by name."""
    for directory in config.profile_dirs:
        if not directory.is_dir():
            yield Check("profiles", False, f"{directory}: profile directory does not exist")
        elif strays := stray_files(directory):
            names = ", ".join(p.name for p in strays)
            yield Check("profiles", False, f"{directory}: not loaded, not named *.yaml, *.yml or *.json: {names}")


def _inventory(config: GatewayConfig) -> Iterator[Check]:
    """The inventory (the config's and its file) bound to the profiles it names and the buses it uses:
    every problem on its own line, with file, line and field."""
    try:
        bindings = load_bindings(config)
    except ConfigError as err:
        for problem in str(err).splitlines():
            yield Check("inventory", False, problem)
        return
    profiles = sorted({b.compiled.profile.id for b in bindings})
    yield Check("inventory", True, f"{len(bindings)} devices bound to {len(profiles)} profiles: {', '.join(profiles)}")


def _buses(config: GatewayConfig) -> Iterator[Check]:
    """Each Modbus bus is where the config says: a TCP endpoint accepts a connection, a serial line's
    device exists and the agent may open it."""
    for bus in config.southbound.modbus:
        if isinstance(bus, ModbusTcpBus):
            yield _tcp(f"modbus bus {bus.name}", bus.host, bus.port, f"{bus.host}:{bus.port}")
        else:
            yield _serial(f"modbus bus {bus.name}", bus.port)


def _serial(name: str, port: str) -> Check:
    if not Path(port).exists():
        return Check(name, False, f"{port} does not exist: adapter unplugged or another name?")
    if not os.access(port, os.R_OK | os.W_OK):
        return Check(name, False, f"{port} is not read/writable: add the agent's user to group dialout")
    return Check(name, True, f"{port} present")


def _state_dir(path: Path) -> Check:
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("/"))
    if not os.access(probe, os.W_OK):
        return Check("state dir", False, f"{probe} is not writable: the outbox cannot keep events")
    return Check("state dir", True, f"{path} writable")


def _api_port(config: GatewayConfig) -> Check:
    api = config.api
    if not api.enabled:
        return Check("api port", True, "local API disabled")
    try:
        with socket.create_server((api.host, api.port)):
            pass
    except OSError as exc:
        return Check(
            "api port", False, f"{api.host}:{api.port} cannot be bound ({exc.strerror}): another agent running?"
        )
    return Check("api port", True, f"{api.host}:{api.port} free")


async def _brokers(config: GatewayConfig) -> list[Check]:
    pairs = [("southbound broker", config.southbound.mqtt), ("uplink broker", config.uplink.broker)]
    return list(await asyncio.gather(*(_broker(name, b) for name, b in pairs)))


async def _broker(name: str, broker: BrokerConfig) -> Check:
    started = time.monotonic()
    try:
        async with aiomqtt.Client(
            **broker.connect_args(),
            identifier=f"gridedge-doctor-{os.getpid()}",
            timeout=TIMEOUT_S,
        ):
            pass
    except aiomqtt.MqttError as exc:
        return Check(name, False, f"{broker.url}: {exc}")
    return Check(name, True, f"{broker.url} accepted a connection in {(time.monotonic() - started) * 1000:.0f} ms")


def _telemetry(url: str) -> Check:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return _tcp("telemetry", parts.hostname or "", port, url)


def _tcp(name: str, host: str, port: int, what: str) -> Check:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S):
            pass
    except OSError as exc:
        return Check(name, False, f"{what}: {exc.strerror or exc}")
    return Check(name, True, f"{what} reachable")


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
    elif isinstance(data, str):
        yield data


def _serial_ports(config: GatewayConfig) -> Iterator[Check]:
    """Every /dev/tty* the config names must exist and be readable and writable by the agent."""
    buses = {b.port for b in config.southbound.modbus if not isinstance(b, ModbusTcpBus)}
    ports = sorted({s for s in _strings(config.model_dump(mode="json")) if s.startswith("/dev/tty")} - buses)
    if not ports and not buses:
        yield Check("serial ports", True, "none configured")
    for port in ports:
        yield _serial("serial port", port)


def _cameras(config: GatewayConfig) -> Iterator[Check]:
    if not config.cameras:
        yield Check("cameras", True, "none configured")
    for camera in config.cameras:
        name, source = f"camera {camera.id}", camera.source
        parts = urlsplit(source)
        if parts.scheme in ("rtsp", "rtsps", "http", "https"):
            default = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}[parts.scheme]
            shown = f"{parts.scheme}://{parts.hostname}:{parts.port or default}"  # no credentials on screen
            yield _tcp(name, parts.hostname or "", parts.port or default, shown)
        elif source.isdigit():
            device = Path(f"/dev/video{source}")
            yield Check(name, device.exists(), f"{device} {'present' if device.exists() else 'missing'}")
        elif source:
            yield Check(name, Path(source).exists(), f"{source} {'present' if Path(source).exists() else 'missing'}")
        else:
            yield Check(name, False, "no source configured")

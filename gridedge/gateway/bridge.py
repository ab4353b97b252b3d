"""The cloud bridge wired into the gateway: the uplink as configured, and the downlink commands.

Command handlers live here, not in the bridge, because they act on the gateway through its control
port (gateway/ports.py: rules, silences, reloads); the bridge only verifies and routes
(cloud_bridge/downlink.py).
- ack: an officer took the event in hand; logged and kept (`acks`, newest last, bounded).
- ping: answers with version, queue depth and uptime-independent figures.
- silence: sets an operator's silence (args as the `Silence` model: rule/device/site, ends_at, reason,
  author; refused past the gateway's maximum), or with args {"expire": <id>} ends one early, or with
  {"list": true} answers the silences in force. The retained status carries them to the centre.
- push_rules: swaps the rules engine's pack in memory (args {"pack": <rule pack>}); a restart goes
  back to the configured files, and the reply says so.
- push_profiles (args {"profile": <profile>}), push_inventory (args {"inventory": <inventory>}):
  written to the configured profile directory / inventory file, then applied by the same hot reload
  that picks up an installer's edit; persisted, so a restart keeps them. A push the agent cannot
  apply is refused and the previous file is put back.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gridedge import __version__
from gridedge.cloud_bridge.downlink import CommandFailedError, Downlink, Handler
from gridedge.cloud_bridge.outbox import Outbox
from gridedge.cloud_bridge.uplink import Uplink
from gridedge.devices.drivers.modbus import WriteFailedError
from gridedge.devices.inventory import Inventory
from gridedge.devices.profile import Profile
from gridedge.devices.registers import WriteRefused
from gridedge.edge.clock import Clock
from gridedge.edge.command import Command, CommandName
from gridedge.gateway.ports import ControlPort, OutboxStatus, ReadModel
from gridedge.gateway.settings import GatewayConfig
from gridedge.rules.hygiene import SilenceRefusedError
from gridedge.rules.model import RulePack, Silence

log = logging.getLogger(__name__)

MAX_ACKS = 1000
M = TypeVar("M", bound=BaseModel)


class AgentCommands:
    def __init__(self, control: ControlPort, outbox: OutboxStatus, config: GatewayConfig) -> None:
        """`config` says where pushed profiles and inventories are written."""
        self._control = control
        self._outbox = outbox
        self._profile_dirs = config.profile_dirs
        self._inventory_file = config.inventory_file
        self.acks: deque[Command] = deque(maxlen=MAX_ACKS)

    def table(self) -> dict[CommandName, Handler]:
        return {
            CommandName.ACK: self.ack,
            CommandName.PING: self.ping,
            CommandName.SILENCE: self.silence,
            CommandName.PUSH_RULES: self.push_rules,
            CommandName.PUSH_PROFILES: self.push_profile,
            CommandName.PUSH_INVENTORY: self.push_inventory,
            CommandName.WRITE_POINT: self.write_point,
        }

    async def ack(self, command: Command) -> dict[str, Any]:
        event_id = command.args.get("event_id")
        if not isinstance(event_id, str):
            raise CommandFailedError("ack needs args.event_id")
        self.acks.append(command)
        self._control.count("acks")
        log.info("centre acknowledged event %s (%s)", event_id, command.args.get("action", "ack"))
        return {"event_id": event_id}

    async def ping(self, command: Command) -> dict[str, Any]:
        return {"version": __version__, "queue_depth": self._outbox.depth()}

    async def silence(self, command: Command) -> dict[str, Any]:
        args = command.args
        if args.get("list") is True:
            return {"silences": [s.record() for s in self._control.silences() if not s.from_pack]}
        expire = args.get("expire")
        if expire is not None:
            if not isinstance(expire, str):
                raise CommandFailedError("expire needs a silence id (a string)")
            try:
                await self._control.expire_silence(expire)
            except (LookupError, SilenceRefusedError) as err:
                raise CommandFailedError(str(err).strip("'\"")) from None
            return {"expired": expire}
        try:
            silence = Silence.model_validate(args)
            active = await self._control.silence(silence)
        except ValidationError as err:
            raise CommandFailedError(f"not a silence: {err.errors(include_url=False)[0]['msg']}") from None
        except SilenceRefusedError as err:
            raise CommandFailedError(f"silence refused: {err}") from None
        return {"id": active.id, "ends_at": silence.ends_at.isoformat()}

    async def push_rules(self, command: Command) -> dict[str, Any]:
        try:
            pack = RulePack.model_validate(command.args.get("pack"))
            await self._control.replace_rules(pack)  # resolutions of removed rules go out like any event
        except (ValidationError, ValueError) as err:
            raise CommandFailedError(f"rule pack refused: {err}") from None
        return {"rules": len(pack.rules), "persisted": False}

    async def push_profile(self, command: Command) -> dict[str, Any]:
        dirs = self._profile_dirs
        if not dirs:
            raise CommandFailedError("no profile directory configured (profile_dirs)")
        profile = _validated(Profile, command.args.get("profile"), "profile")
        await self._replace_and_reload(dirs[0] / f"{profile.id}.yaml", profile)
        return {"profile": profile.id, "persisted": True}

    async def push_inventory(self, command: Command) -> dict[str, Any]:
        path = self._inventory_file
        if path is None:
            raise CommandFailedError("no inventory file configured (inventory_file)")
        inventory = _validated(Inventory, command.args.get("inventory"), "inventory")
        await self._replace_and_reload(path, inventory)
        return {"devices": len(inventory.devices), "persisted": True}

    async def write_point(self, command: Command) -> dict[str, Any]:
        """E.g. switch a charging port off: only points the device's profile marks writable, and the
        value the device reads back is the answer."""
        device, point, value = (command.args.get(k) for k in ("device_id", "point", "value"))
        if not isinstance(device, str) or not isinstance(point, str) or value is None:
            raise CommandFailedError("write_point needs args.device_id, args.point and args.value")
        try:
            read_back = await self._control.write_point(device, point, value)
        except (WriteRefused, WriteFailedError) as err:
            raise CommandFailedError(str(err)) from None
        log.info("centre set %s %s to %r (read back %r)", device, point, value, read_back)
        return {"device_id": device, "point": point, "value": read_back}

    async def _replace_and_reload(self, path: Path, model: BaseModel) -> None:
        text = yaml.safe_dump(model.model_dump(mode="json", exclude_none=True), allow_unicode=True).encode()
        previous = await asyncio.to_thread(_swap, path, text)
        if await self._control.reload_devices():
            return
        await asyncio.to_thread(_swap, path, previous)
        raise CommandFailedError(f"{path.name} refused by the agent (see its log); the previous version stays")


def _validated(model: type[M], data: object, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CommandFailedError(f"{what} refused: {where}: {first['msg']}") from None


def _swap(path: Path, data: bytes | None) -> bytes | None:
    """Put `data` in the file (None: remove it) and return what was there. Written to a temporary file
    and renamed, so a power cut leaves the old file or the new one, never half of one."""
    previous = path.read_bytes() if path.exists() else None
    if data is None:
        path.unlink(missing_ok=True)
        return previous
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return previous


def status_report(read: ReadModel, config: GatewayConfig) -> dict[str, object]:
    """What the retained status adds to the queue figures, for the centre: the gateway's grid cell (so
    the centre shows it to the right officers), storage trouble, incidents held back, and the
    operators' silences in force (who, why, until when)."""
    storage = read.storage()
    grid = config.gateway.grid
    return {
        "grid": [grid.district.code, grid.street.code, grid.community.code, grid.grid.code],
        "storage": {
            "ok": storage.failing is None,
            "error": storage.failing,
            "held_in_memory": storage.held_in_memory,
            "dropped_in_memory": storage.dropped_in_memory,
        },
        "held": dict(read.held_incidents()),
        "silences": [s.record() for s in read.silences() if not s.from_pack],
    }


def make_uplink(
    config: GatewayConfig,
    outbox: Outbox,
    commands: AgentCommands,
    clock: Clock,
    report: Callable[[], Mapping[str, object]] | None = None,
) -> Uplink:
    """The uplink as configured; it reads downlink commands only when a command key is configured.
    `report` adds to each online status (`status_report`)."""
    settings = config.uplink
    key = settings.command_key()
    gateway_id = config.gateway.id
    downlink = Downlink(gateway_id, key, commands.table(), clock=clock) if key is not None else None
    return Uplink(
        outbox,
        settings.broker,
        gateway_id,
        version=__version__,
        protocol=settings.protocol,
        tls=settings.tls_context(),
        heartbeat_s=settings.heartbeat_s,
        downlink=downlink,
        report=report,
    )

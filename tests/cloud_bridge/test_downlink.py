from __future__ import annotations

import json
from typing import Any

from gridedge.cloud_bridge.downlink import CommandFailedError, Downlink
from gridedge.edge.clock import FakeClock
from gridedge.edge.command import Command, CommandName, gateway_key, sign

GW = "gw-01"
KEY = gateway_key(b"city", GW)


async def broken(command: Command) -> dict[str, Any]:
    raise RuntimeError("bug")


async def refuses(command: Command) -> dict[str, Any]:
    raise CommandFailedError("no such device")


async def answer(downlink: Downlink, clock: FakeClock, name: CommandName) -> dict[str, Any]:
    command = sign(KEY, name, GW, now=clock.now())
    reply = await downlink.handle(command.topic, command.to_json())
    assert reply.topic == f"gridedge/v1/cmd/{GW}/{name.value}/reply"
    body: dict[str, Any] = json.loads(reply.payload)
    assert body["nonce"] == command.nonce
    return body


async def test_a_failing_or_broken_handler_is_answered_and_does_not_escape() -> None:
    clock = FakeClock()
    downlink = Downlink(GW, KEY, {CommandName.PING: broken, CommandName.SILENCE: refuses}, clock=clock)
    assert downlink.subscription == f"gridedge/v1/cmd/{GW}/+"
    assert (await answer(downlink, clock, CommandName.PING))["detail"] == "error"
    assert (await answer(downlink, clock, CommandName.SILENCE))["detail"] == "no such device"
    assert (await answer(downlink, clock, CommandName.ACK))["detail"] == "unsupported"
    assert downlink.accepted == 0


async def test_garbage_on_the_command_topic_is_answered_as_refused() -> None:
    downlink = Downlink(GW, KEY, {}, clock=FakeClock())
    reply = await downlink.handle(f"gridedge/v1/cmd/{GW}/ping", b"\xff")
    body = json.loads(reply.payload)
    assert (body["ok"], body["detail"], body["nonce"]) == (False, "malformed", None)
    assert downlink.refused == 1

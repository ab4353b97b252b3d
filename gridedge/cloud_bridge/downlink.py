"""Downlink commands: verify what arrives on `gridedge/v1/cmd/{gateway_id}/+`, run its handler, answer.

Every command is checked by `edge.command.verify` (signature with this gateway's key, topic,
freshness, nonce) before any handler sees it; a refused one is answered with `ok: false` and the
reason, and logged, but changes nothing. The handlers belong to the agent (the composition root):
this module only routes, so the bridge never learns what a rule or a profile is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.command import Command, CommandError, CommandName, ReplayGuard, reply_payload, reply_topic, verify
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.topics import command_topic

log = logging.getLogger(__name__)

Handler = Callable[[Command], Awaitable[dict[str, Any]]]
"""Runs one verified command; returns the reply's `result`, or raises CommandFailedError."""


class CommandFailedError(GridEdgeError):
    """A verified command that this gateway cannot carry out (unsupported, bad arguments)."""


@dataclass(frozen=True, slots=True)
class Reply:
    topic: str
    payload: bytes


class Downlink:
    def __init__(
        self,
        gateway_id: str,
        key: bytes,
        handlers: Mapping[CommandName, Handler],
        *,
        replays: ReplayGuard | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self._key = key
        self._handlers = dict(handlers)
        self._replays = replays or ReplayGuard()
        self._clock = clock or SystemClock()
        self.accepted = 0
        self.refused = 0

    @property
    def subscription(self) -> str:
        return command_topic(self.gateway_id, "+")

    async def handle(self, topic: str, payload: bytes) -> Reply:
        """The answer to one message on the command topic, whatever it holds."""
        name = topic.rsplit("/", 1)[-1]
        now = self._clock.now()
        try:
            command = verify(self._key, topic, payload, now=now, replays=self._replays)
        except CommandError as refused:
            self.refused += 1
            log.warning("refused command on %s: %s", topic, refused)
            return self._reply(name, None, ok=False, detail=refused.reason.value)
        handler = self._handlers.get(command.name)
        if handler is None:
            log.info("command %s (%s): unsupported", command.name.value, command.nonce)
            return self._reply(name, command.nonce, ok=False, detail="unsupported")
        try:
            result = await handler(command)
        except CommandFailedError as failed:
            log.warning("command %s (%s) failed: %s", command.name.value, command.nonce, failed)
            return self._reply(name, command.nonce, ok=False, detail=str(failed))
        except Exception:  # a broken handler must not take the uplink down with it
            log.exception("command %s (%s) raised", command.name.value, command.nonce)
            return self._reply(name, command.nonce, ok=False, detail="error")
        self.accepted += 1
        log.info("command %s (%s) done", command.name.value, command.nonce)
        return self._reply(name, command.nonce, ok=True, result=result)

    def _reply(
        self, name: str, nonce: str | None, *, ok: bool, detail: str = "", result: dict[str, Any] | None = None
    ) -> Reply:
        payload = reply_payload(name, nonce, ok=ok, now=self._clock.now(), detail=detail, result=result)
        return Reply(reply_topic(self.gateway_id, name), payload)

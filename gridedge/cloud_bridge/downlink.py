"""Downlink commands: verify what arrives on `gridedge/v1/cmd/{gateway_id}/+`, run its handler, answer.

Every command is checked by `edge.command.verify` (size, strict format, signature with this
gateway's key, topic, freshness, nonce) before any handler sees it; a refused one is answered with
`ok: false`, the reason and why, logged and counted by reason, but changes nothing. Whatever the
bytes (a retained poison command comes again on every subscription), `handle` answers and never
raises: a command must not be able to stop the agent. With `replay_file` the nonces admitted are
kept on disk (cloud_bridge/replays.py), so a restart does not let a recorded command run again.
The handlers belong to the agent (the composition root): this module only routes, so the bridge
never learns what a rule or a profile is.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridedge.cloud_bridge.replays import ReplayLog
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.command import (
    Command,
    CommandError,
    CommandName,
    Refusal,
    ReplayGuard,
    reply_payload,
    reply_topic,
    verify,
)
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.topics import command_topic

log = logging.getLogger(__name__)

WHY_CHARS = 200
"""How much of a refusal's explanation goes into the reply (it may quote what was sent)."""

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
        replay_file: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self._key = key
        self._handlers = dict(handlers)
        self._replays = replays or ReplayGuard()
        self._clock = clock or SystemClock()
        self._log = ReplayLog(replay_file) if replay_file is not None else None
        if self._log is not None:
            self._replays.remember(self._log.load(), self._clock.now())
            self._log.rewrite(self._replays.seen())
        self.accepted = 0
        self.refused = 0
        self.refusals: Counter[str] = Counter()
        """Refused commands by reason (Refusal values, `failed` and `error`)."""

    @property
    def subscription(self) -> str:
        return command_topic(self.gateway_id, "+")

    async def handle(self, topic: str, payload: bytes) -> Reply:
        """The answer to one message on the command topic, whatever it holds; never raises."""
        name = topic.rsplit("/", 1)[-1]
        try:
            return await self._handle(name, topic, payload)
        except Exception:  # the last line: a bug here must not stop the agent (a retained command would loop)
            log.exception("command on %s could not be handled", topic)
            return self._refuse(name, None, "error", "could not be handled (see the gateway's log)")

    async def _handle(self, name: str, topic: str, payload: bytes) -> Reply:
        now = self._clock.now()
        try:
            command = verify(self._key, topic, payload, now=now, replays=self._replays)
            await self._record(command.nonce, now)
        except CommandError as refused:
            log.warning("refused command on %s: %s", topic, refused)
            return self._refuse(name, None, refused.reason.value, str(refused))
        handler = self._handlers.get(command.name)
        if handler is None:
            log.info("command %s (%s): unsupported", command.name.value, command.nonce)
            return self._refuse(command.name.value, command.nonce, "unsupported", "this gateway has no such command")
        try:
            result = await handler(command)
        except CommandFailedError as failed:
            log.warning("command %s (%s) failed: %s", command.name.value, command.nonce, failed)
            return self._refuse(command.name.value, command.nonce, str(failed), str(failed))
        except Exception:  # a broken handler must not take the uplink down with it
            log.exception("command %s (%s) raised", command.name.value, command.nonce)
            return self._refuse(command.name.value, command.nonce, "error", "the handler failed")
        self.accepted += 1
        log.info("command %s (%s) done", command.name.value, command.nonce)
        return self._reply(command.name.value, command.nonce, ok=True, result=result)

    async def _record(self, nonce: str, now: float) -> None:
        """The nonce on disk before its command runs; if it cannot be, the command does not run."""
        if self._log is None:
            return
        try:
            await asyncio.to_thread(self._log.append, nonce, now)
            if self._log.due_for_compaction:
                await asyncio.to_thread(self._log.rewrite, self._replays.seen())
        except OSError as err:
            raise CommandError(Refusal.BUSY, f"cannot record its nonce: {err}") from None

    def _refuse(self, name: str, nonce: str | None, detail: str, why: str) -> Reply:
        self.refused += 1
        self.refusals[detail if detail in _COUNTED else "failed"] += 1
        return self._reply(name, nonce, ok=False, detail=detail, result={"why": why[:WHY_CHARS]})

    def _reply(
        self, name: str, nonce: str | None, *, ok: bool, detail: str = "", result: dict[str, Any] | None = None
    ) -> Reply:
        payload = reply_payload(name, nonce, ok=ok, now=self._clock.now(), detail=detail, result=result)
        return Reply(reply_topic(self.gateway_id, name), payload)


_COUNTED = frozenset({r.value for r in Refusal} | {"unsupported", "error"})

"""Downlink commands (centre -> gateway): the signed envelope, shared by both sides of the contract.

A command travels on `gridedge/v1/cmd/{gateway_id}/{name}` and its answer on `.../reply`. The broker's
ACL already keeps other gateways off these topics; the signature is what keeps anyone who can
publish there (a leaked centre account, a misconfigured ACL) from commanding a gateway:
- HMAC-SHA256 with a key of that gateway only (`gateway_key` derives it from the city's secret, so
  the centre holds one secret and a stolen gateway key opens no other gateway);
- the signed bytes are the canonical JSON of every field but `signature` (keys sorted, no spaces,
  UTF-8), so the name, the gateway, the arguments, the time and the nonce are all covered;
- a command older (or further in the future) than `max_age_s` is refused, and a nonce seen within
  that window is refused as a replay. So the replay cache needs only the window's nonces, and its
  bound (`ReplayGuard.capacity`) caps how many commands a gateway accepts per window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import OrderedDict
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gridedge.edge.errors import GridEdgeError
from gridedge.edge.topics import command_topic

MAX_AGE_S = 60.0
"""How far a command's `issued_at` may be from the gateway's clock, either way."""


class CommandName(StrEnum):
    ACK = "ack"
    """An officer acknowledged an event: args {event_id, seq?, by?}."""
    PING = "ping"
    """Liveness check: the reply carries the gateway's version and queue depth."""
    SILENCE = "silence"
    """Mute a device's alerts for a while: args {device_id, for_s}."""
    PUSH_RULES = "push_rules"
    PUSH_PROFILES = "push_profiles"
    PUSH_INVENTORY = "push_inventory"
    WRITE_POINT = "write_point"
    """Set a Modbus point its profile marks writable (switch a port off): args {device_id, point, value};
    the reply carries the value read back."""


class Refusal(StrEnum):
    """Why a command was refused; also the `reason` of its reply."""

    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    WRONG_TOPIC = "wrong_topic"
    STALE = "stale"
    REPLAYED = "replayed"
    BUSY = "busy"


class CommandError(GridEdgeError):
    def __init__(self, reason: Refusal, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason.value}: {detail}")


class Command(BaseModel):
    """One signed downlink command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: CommandName
    gateway_id: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    issued_at: float = Field(description="Unix seconds, by the centre's clock.")
    nonce: str = Field(min_length=16, max_length=64, description="Random hex, unique per command.")
    signature: str = Field(default="", description="Hex HMAC-SHA256 of the canonical JSON of the other fields.")

    @property
    def topic(self) -> str:
        return command_topic(self.gateway_id, self.name.value)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def reply_topic(gateway_id: str, name: str) -> str:
    return f"{command_topic(gateway_id, name)}/reply"


def gateway_key(city_secret: bytes, gateway_id: str) -> bytes:
    """The command key of one gateway, derived from the city's secret (HMAC as a PRF)."""
    return hmac.new(city_secret, f"gridedge/cmd-key/{gateway_id}".encode(), hashlib.sha256).digest()


def _signed_bytes(command: Command) -> bytes:
    body = command.model_dump(mode="json", exclude={"signature"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(key: bytes, command: Command) -> str:
    return hmac.new(key, _signed_bytes(command), hashlib.sha256).hexdigest()


def sign(key: bytes, name: CommandName, gateway_id: str, args: dict[str, Any] | None = None, *, now: float) -> Command:
    """A new command with a fresh nonce, signed with `key` (the gateway's, see `gateway_key`)."""
    unsigned = Command(name=name, gateway_id=gateway_id, args=args or {}, issued_at=now, nonce=secrets.token_hex(16))
    return unsigned.model_copy(update={"signature": _mac(key, unsigned)})


class ReplayGuard:
    """Nonces seen within the freshness window, at most `capacity` of them.

    When full of nonces that are all still fresh, a new command is refused (BUSY) rather than an old
    nonce forgotten: forgetting one would let it be replayed while its timestamp still passes.
    """

    def __init__(self, capacity: int = 10_000, max_age_s: float = MAX_AGE_S) -> None:
        self.capacity = capacity
        self.max_age_s = max_age_s
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> when first seen, oldest first

    def admit(self, nonce: str, now: float) -> None:
        """Remember `nonce`, or raise CommandError if it was seen or there is no room."""
        horizon = now - 2 * self.max_age_s  # a command is fresh for max_age_s either side of its issue
        while self._seen and next(iter(self._seen.values())) < horizon:
            self._seen.popitem(last=False)
        if nonce in self._seen:
            raise CommandError(Refusal.REPLAYED, f"nonce {nonce} already used")
        if len(self._seen) >= self.capacity:
            raise CommandError(Refusal.BUSY, f"more than {self.capacity} commands within {self.max_age_s:.0f} s")
        self._seen[nonce] = now

    def __len__(self) -> int:
        return len(self._seen)


def verify(key: bytes, topic: str, payload: bytes, *, now: float, replays: ReplayGuard) -> Command:
    """The command in `payload` received on `topic`, or CommandError saying why not.

    Checked in this order, so nothing unauthenticated reaches the replay cache: shape, signature,
    topic (the signed gateway and name must be the topic's), freshness, then the nonce.
    """
    try:
        command = Command.model_validate_json(payload)
    except ValidationError as err:
        raise CommandError(Refusal.MALFORMED, str(err.errors(include_url=False)[0]["msg"])) from None
    if not command.signature:
        raise CommandError(Refusal.UNSIGNED, "no signature")
    if not hmac.compare_digest(command.signature, _mac(key, command)):
        raise CommandError(Refusal.BAD_SIGNATURE, "signature does not match")
    if topic != command.topic:
        raise CommandError(Refusal.WRONG_TOPIC, f"signed for {command.topic}, received on {topic}")
    if abs(now - command.issued_at) > replays.max_age_s:
        raise CommandError(Refusal.STALE, f"issued {now - command.issued_at:.0f} s from now")
    replays.admit(command.nonce, now)
    return command


def reply_payload(
    name: str, nonce: str | None, *, ok: bool, now: float, detail: str = "", result: dict[str, Any] | None = None
) -> bytes:
    """The answer on the reply topic; `nonce` ties it to its command (None when the command was unreadable)."""
    body = {"command": name, "nonce": nonce, "ok": ok, "at": now, "detail": detail, "result": result or {}}
    return json.dumps(body, separators=(",", ":")).encode()

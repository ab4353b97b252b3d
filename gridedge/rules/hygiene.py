"""Alert hygiene: why an open incident is not shown to officers (silenced, inhibited, over the flood cap).

An incident is always tracked; hygiene only decides whether it is published. A held incident that
becomes showable (the silence ended, the inhibiting incident resolved, the flood ebbed) is published
then, with its original start time; one that resolves while held is never published at all.

Silences an operator sets (local API, signed downlink) say who set them and why, and end no later
than `max_s` after they were set: a forgotten silence must not mute a building for good. The rule
packs' own silences are configuration, replaced on every reload.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gridedge.rules.model import Silence

DEFAULT_MAX_SILENCE_S = 7 * 24 * 3600.0


class Held(StrEnum):
    SILENCED = "silenced"
    INHIBITED = "inhibited"
    FLOOD = "flood"


class SilenceRefusedError(ValueError):
    """A silence an operator may not set (no author or reason, already over, longer than the maximum)."""


@dataclass(frozen=True, slots=True)
class ActiveSilence:
    id: str
    rule: str | None
    device: str | None
    site: str | None
    ends_at: float
    reason: str
    author: str
    created_at: float
    from_pack: bool  # came with the rule files (replaced on reload) rather than from an operator

    @classmethod
    def of(cls, s: Silence, from_pack: bool, now: float, silence_id: str | None = None) -> ActiveSilence:
        return cls(
            silence_id or uuid.uuid4().hex[:16],
            s.rule,
            s.device,
            s.site,
            s.ends_at.timestamp(),
            s.reason,
            s.author,
            now,
            from_pack,
        )

    def matches(self, rule_id: str, device_id: str, site: str) -> bool:
        return (
            (self.rule is None or self.rule == rule_id)
            and (self.device is None or self.device == device_id)
            and (self.site is None or self.site == site)
        )

    def record(self) -> dict[str, Any]:
        """Plain data for the state store and the status message."""
        return {
            "id": self.id,
            "rule": self.rule,
            "device": self.device,
            "site": self.site,
            "ends_at": self.ends_at,
            "reason": self.reason,
            "author": self.author,
            "created_at": self.created_at,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> ActiveSilence:
        return cls(
            str(r["id"]),
            r.get("rule"),
            r.get("device"),
            r.get("site"),
            float(r["ends_at"]),
            str(r.get("reason", "")),
            str(r.get("author", "")),
            float(r.get("created_at", 0.0)),
            False,
        )


class Silences:
    def __init__(self, max_s: float = DEFAULT_MAX_SILENCE_S) -> None:
        self.max_s = max_s
        self._active: dict[str, ActiveSilence] = {}

    def add(self, silence: Silence, now: float) -> ActiveSilence:
        """An operator's silence, checked: who, why, and an end in the future within the maximum."""
        if not silence.author.strip():
            raise SilenceRefusedError("a silence needs an author (who set it)")
        if not silence.reason.strip():
            raise SilenceRefusedError("a silence needs a reason")
        ends = silence.ends_at.timestamp()
        if ends <= now:
            raise SilenceRefusedError(f"ends_at {silence.ends_at.isoformat()} is not in the future")
        if ends - now > self.max_s:
            raise SilenceRefusedError(
                f"a silence may last at most {self.max_s:g} s ({self.max_s / 3600:g} h); "
                f"this one would last {ends - now:.0f} s"
            )
        active = ActiveSilence.of(silence, from_pack=False, now=now)
        self._active[active.id] = active
        return active

    def restore(self, active: ActiveSilence) -> None:
        self._active[active.id] = active

    def replace_pack(self, silences: list[Silence], now: float) -> None:
        """A reload brings the pack's silences anew; an operator's silences stay until they end."""
        self._active = {k: s for k, s in self._active.items() if not s.from_pack}
        for i, s in enumerate(silences):
            active = ActiveSilence.of(s, from_pack=True, now=now, silence_id=f"pack-{i}")
            self._active[active.id] = active

    def remove(self, silence_id: str) -> ActiveSilence:
        found = self._active.get(silence_id)
        if found is None:
            raise LookupError(f"no silence {silence_id!r} in force")
        if found.from_pack:
            raise SilenceRefusedError(f"silence {silence_id!r} comes with the rule packs: edit the pack file")
        return self._active.pop(silence_id)

    def active(self) -> list[ActiveSilence]:
        return list(self._active.values())

    def covers(self, rule_id: str, device_id: str, site: str, now: float) -> bool:
        return any(s.ends_at > now and s.matches(rule_id, device_id, site) for s in self._active.values())

    def expire(self, now: float) -> list[ActiveSilence]:
        """Forget ended silences and return them (held incidents may be shown now)."""
        ended = [s for s in self._active.values() if s.ends_at <= now]
        for s in ended:
            del self._active[s.id]
        return ended

    def __len__(self) -> int:
        return len(self._active)

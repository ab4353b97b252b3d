"""Alert hygiene: why an open incident is not shown to officers (silenced, inhibited, over the flood cap).

An incident is always tracked; hygiene only decides whether it is published. A held incident that
becomes showable (the silence ended, the inhibiting incident resolved, the flood ebbed) is published
then, with its original start time; one that resolves while held is never published at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridedge.rules.model import Silence


class Held(StrEnum):
    SILENCED = "silenced"
    INHIBITED = "inhibited"
    FLOOD = "flood"


@dataclass(frozen=True, slots=True)
class ActiveSilence:
    rule: str | None
    device: str | None
    site: str | None
    ends_at: float
    reason: str
    from_pack: bool  # came with the rule files (replaced on reload) rather than from an operator

    @classmethod
    def of(cls, s: Silence, from_pack: bool) -> ActiveSilence:
        return cls(s.rule, s.device, s.site, s.ends_at.timestamp(), s.reason, from_pack)

    def matches(self, rule_id: str, device_id: str, site: str) -> bool:
        return (
            (self.rule is None or self.rule == rule_id)
            and (self.device is None or self.device == device_id)
            and (self.site is None or self.site == site)
        )


class Silences:
    def __init__(self) -> None:
        self._active: list[ActiveSilence] = []

    def add(self, silence: Silence, from_pack: bool = False) -> None:
        self._active.append(ActiveSilence.of(silence, from_pack))

    def replace_pack(self, silences: list[Silence]) -> None:
        """A reload brings the pack's silences anew; an operator's silences stay until they end."""
        self._active = [s for s in self._active if not s.from_pack]
        for s in silences:
            self.add(s, from_pack=True)

    def active(self) -> list[ActiveSilence]:
        return list(self._active)

    def covers(self, rule_id: str, device_id: str, site: str, now: float) -> bool:
        return any(s.ends_at > now and s.matches(rule_id, device_id, site) for s in self._active)

    def expire(self, now: float) -> bool:
        """Forget ended silences; true when one ended (held incidents may be shown now)."""
        before = len(self._active)
        self._active = [s for s in self._active if s.ends_at > now]
        return len(self._active) < before

    def __len__(self) -> int:
        return len(self._active)

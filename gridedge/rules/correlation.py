"""Correlation across devices at one site: which rules hold where, right now.

A rule "holds" at a site while its condition holds for any watched point there, before its `for_s`
and whatever silences or inhibitions say: a smoke alarm that has just gone off and a port whose
temperature is climbing are evidence of one charging fire even if neither is an event of its own yet.
"""

from __future__ import annotations

from collections.abc import Iterable

Member = tuple[str, str, str]  # rule id, device id, point


class Holding:
    def __init__(self) -> None:
        self._at: dict[tuple[str, str], set[Member]] = {}

    def update(self, site: str, rule_id: str, member: Member, holds: bool) -> None:
        if holds:
            self._at.setdefault((site, rule_id), set()).add(member)
            return
        members = self._at.get((site, rule_id))
        if members is not None:
            members.discard(member)
            if not members:
                del self._at[(site, rule_id)]

    def all_hold(self, site: str, rule_ids: Iterable[str]) -> bool:
        return all((site, r) in self._at for r in rule_ids)

    def members(self, site: str, rule_id: str) -> set[Member]:
        return self._at.get((site, rule_id), set())

    def forget(self, rule_ids: set[str]) -> None:
        for key in [k for k in self._at if k[1] in rule_ids]:
            del self._at[key]

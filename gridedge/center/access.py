"""Who may see and move which case: an officer owns one node of the grid tree and everything below it.

Pure rules over codes and levels; the store turns `Officer.jurisdiction` into a WHERE clause, so no
query can forget it. An officer may act on a case in their subtree whose handling level is not above
their own: once a late case rises to the street, the street owns it and the grid only watches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gridedge.center.workflow import level_rank
from gridedge.edge.errors import GridEdgeError
from gridedge.edge.grid import Level


class Role(StrEnum):
    GRID = "grid"
    """Grid officer (网格员): one grid."""
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"
    ADMIN = "admin"
    """The whole city, and the accounts of others."""


DEPTH = {Role.ADMIN: 0, Role.DISTRICT: 1, Role.STREET: 2, Role.COMMUNITY: 3, Role.GRID: 4}
"""How many grid codes name the node a role owns."""


class AccessDeniedError(GridEdgeError):
    """An officer tried to read or move a case outside what they own."""


@dataclass(frozen=True, slots=True)
class Officer:
    username: str
    name: str
    role: Role
    jurisdiction: tuple[str, ...]
    """Grid codes of the node they own, from the district down; () for an admin."""

    @property
    def level(self) -> Level:
        return Level.DISTRICT if self.role is Role.ADMIN else Level(self.role.value)


def check_jurisdiction(role: Role, jurisdiction: Sequence[str]) -> tuple[str, ...]:
    """The jurisdiction if its depth fits the role, else ValueError naming both."""
    if len(jurisdiction) != DEPTH[role]:
        raise ValueError(f"a {role.value} officer owns {DEPTH[role]} grid codes, got {'/'.join(jurisdiction) or '[]'}")
    return tuple(jurisdiction)


def covers(officer: Officer, codes: Sequence[str]) -> bool:
    return tuple(codes[: len(officer.jurisdiction)]) == officer.jurisdiction


def may_act(officer: Officer, codes: Sequence[str], case_level: Level) -> bool:
    return covers(officer, codes) and level_rank(case_level) <= level_rank(officer.level)

"""What each gateway last said about itself on its retained status topic (`gridedge/v1/status/{id}`):
online or offline, and what officers do not see in the cases: storage trouble, incidents held back
(silenced, inhibited, over the flood cap) and the silences in force, with who set them and why.

Kept in memory: the broker retains the last status of every gateway and hands it over at every
(re)subscription, so nothing here needs the database. A status is hostile input like any message:
parsed into a bounded model, refused (and counted) when it does not fit or when its topic and body
name different gateways. An officer sees the gateways whose grid cell lies in their jurisdiction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gridedge.center.access import Officer, covers
from gridedge.edge.topics import ROOT

log = logging.getLogger(__name__)

STATUS_FILTER = f"{ROOT}/status/+"
MAX_STATUS_BYTES = 256_000
MAX_GATEWAYS = 100_000

Text = Annotated[str, Field(max_length=500)]


class _Lenient(BaseModel):
    """Fields a newer gateway adds are ignored, not refused: the status is informative, not the contract."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class SilenceView(_Lenient):
    id: Annotated[str, Field(max_length=64)]
    rule: Text | None = None
    device: Text | None = None
    site: Text | None = None
    ends_at: float
    reason: Text = ""
    author: Text = ""
    created_at: float | None = None


class StorageView(_Lenient):
    ok: bool = True
    error: Text | None = None
    held_in_memory: int = 0


class GatewayStatus(_Lenient):
    gateway_id: Annotated[str, Field(max_length=64)]
    state: Annotated[str, Field(max_length=16)]
    version: Annotated[str, Field(max_length=32)] = ""
    ts: Annotated[str, Field(max_length=40)] | None = None
    reason: Text | None = None
    grid: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=4)] = Field(default_factory=list)
    storage: StorageView | None = None
    held: dict[Annotated[str, Field(max_length=16)], int] = Field(default_factory=dict, max_length=8)
    silences: Annotated[list[SilenceView], Field(max_length=1000)] = Field(default_factory=list)


class StatusRefusedError(ValueError):
    """A status message that is not one."""


class GatewayBoard:
    """The last status of every gateway heard from."""

    def __init__(self) -> None:
        self._last: dict[str, GatewayStatus] = {}
        self.refused = 0

    def update(self, topic: str, payload: bytes) -> GatewayStatus:
        """Take a status message; StatusRefusedError (counted) when it is not a fitting one."""
        try:
            gateway_id = topic.removeprefix(f"{ROOT}/status/")
            if len(payload) > MAX_STATUS_BYTES:
                raise StatusRefusedError(f"{topic}: {len(payload)} bytes, more than {MAX_STATUS_BYTES}")
            try:
                status = GatewayStatus.model_validate_json(payload)
            except ValidationError as err:
                first = err.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise StatusRefusedError(f"{topic}: {where}: {first['msg']}") from None
            if status.gateway_id != gateway_id:
                raise StatusRefusedError(f"{topic}: the body names gateway {status.gateway_id!r}")
            if gateway_id not in self._last and len(self._last) >= MAX_GATEWAYS:
                raise StatusRefusedError(f"{topic}: more than {MAX_GATEWAYS} gateways")
        except StatusRefusedError:
            self.refused += 1
            raise
        previous = self._last.get(gateway_id)
        if not status.grid and previous is not None:  # the last will carries no grid: keep the one we know
            status = status.model_copy(update={"grid": previous.grid})
        self._last[gateway_id] = status
        return status

    def visible(self, officer: Officer) -> list[GatewayStatus]:
        return sorted((s for s in self._last.values() if self._sees(officer, s.grid)), key=lambda s: s.gateway_id)

    def get(self, officer: Officer, gateway_id: str) -> GatewayStatus | None:
        status = self._last.get(gateway_id)
        return status if status is not None and self._sees(officer, status.grid) else None

    @staticmethod
    def _sees(officer: Officer, grid: Sequence[str]) -> bool:
        """An admin sees every gateway; another officer those placed in their jurisdiction."""
        return not officer.jurisdiction or (len(grid) >= len(officer.jurisdiction) and covers(officer, grid))

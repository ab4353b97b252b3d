"""What the HTTP layer works with: the centre's parts, the officer of a request, and case queries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from gridedge.center.access import Officer
from gridedge.center.accounts import Accounts
from gridedge.center.downlink import ACK_ACTIONS, Ack, Downlink
from gridedge.center.figures import Figure, evaluate
from gridedge.center.live import ChangeFeed
from gridedge.center.settings import ConsoleConfig
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseQuery, CaseStore, Photo
from gridedge.center.tables import Case
from gridedge.center.views import ActionRequest, GridCount, StatsView
from gridedge.center.workflow import CaseState
from gridedge.edge.clock import Clock
from gridedge.edge.event import Severity
from gridedge.edge.grid import Level

SESSION_COOKIE = "gridedge_session"
DEFAULT_PERIOD_S = 30 * 86400


class NotLoggedInError(Exception):
    """Raised by the console's dependency; the app turns it into a redirect to the login page."""


@dataclass
class Centre:
    """What the HTTP layer works with; built by the service, or by a test around a bare store."""

    store: CaseStore
    accounts: Accounts
    stats: IngestStats
    feed: ChangeFeed
    clock: Clock
    downlink: Downlink
    console: ConsoleConfig = field(default_factory=ConsoleConfig)

    def officer(self, request: Request) -> Officer | None:
        auth = request.headers.get("authorization", "")
        secret = auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE)
        return self.accounts.holder(secret, now=self.clock.now()) if secret else None

    def stats_view(self, officer: Officer) -> StatsView:
        open_cases, cases = self.store.count_open_and_all(officer.jurisdiction)
        return StatsView.of(self.stats, revisions=self.store.count_revisions(), cases=cases, open_cases=open_cases)

    async def act(self, officer: Officer, event_id: str, request: ActionRequest, photos: Sequence[Photo] = ()) -> Case:
        case = await asyncio.to_thread(
            self.store.act,
            officer,
            event_id,
            request.action,
            now=self.clock.now(),
            comment=request.comment,
            unit=request.unit or None,
            photos=photos,
            confirm_source_firing=request.confirm_source_firing,
        )
        self.feed.publish()
        if request.action in ACK_ACTIONS:
            await self.downlink.send(Ack(case.gateway_id, case.shown_event_id, request.action, officer.username))
        return case

    def figures(self, officer: Officer, since: datetime | None, until: datetime | None) -> list[Figure]:
        end = until.timestamp() if until else self.clock.now() + 1
        start = since.timestamp() if since else end - DEFAULT_PERIOD_S
        return evaluate(self.store.engine, officer.jurisdiction, start, end)

    def grid(self, officer: Officer) -> list[GridCount]:
        return [
            GridCount(codes=list(codes), names=list(names), open_cases=n, escalated=late)
            for codes, names, n, late in self.store.open_counts(officer.jurisdiction)
        ]


def centre_of(request: Request) -> Centre:
    centre: Centre = request.app.state.centre
    return centre


def case_query(
    clock: Clock,
    *,
    status: str = "open",
    state: CaseState | None = None,
    source_status: str | None = None,
    category: str | None = None,
    severity: Severity | None = None,
    level: Level | None = None,
    grid: str | None = None,
    overdue: bool = False,
    search: str = "",
) -> CaseQuery:
    return CaseQuery(
        state=state,
        open_only=status == "open",
        source_status=source_status,
        category=category or None,
        severity=severity,
        level=level,
        prefix=tuple(grid.split("/")) if grid else (),
        overdue_at=clock.now() if overdue else None,
        search=search,
    )


def api_officer(request: Request) -> Officer:
    officer = centre_of(request).officer(request)
    if officer is None:
        raise HTTPException(401, "log in or send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
    return officer


ApiOfficer = Annotated[Officer, Depends(api_officer)]

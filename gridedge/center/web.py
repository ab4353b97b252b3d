"""What the HTTP layer works with: the centre's parts, the officer of a request, its CSRF token, and
case queries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Request

from gridedge.center.access import Officer, Role
from gridedge.center.accounts import Accounts
from gridedge.center.downlink import ACK_ACTIONS, Ack, Downlink
from gridedge.center.figures import Figure, evaluate
from gridedge.center.gateways import GatewayBoard
from gridedge.center.live import ChangeFeed
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseQuery, CaseStore
from gridedge.center.tables import Case
from gridedge.center.throttle import LoginThrottle
from gridedge.center.views import ActionRequest, GridCount, StatsView
from gridedge.center.workflow import CaseState
from gridedge.edge.clock import Clock
from gridedge.edge.event import Severity
from gridedge.edge.grid import Level

SESSION_COOKIE = "gridedge_session"
LOGIN_COOKIE = "gridedge_login"
"""Before a session exists, the login form's CSRF token is this cookie's value."""
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
"""What a script sends with a state-changing API call made with the session cookie."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PERIOD_S = 30 * 86400


class NotLoggedInError(Exception):
    """Raised by the console's dependency; the app turns it into a redirect to the login page."""


class CsrfError(Exception):
    """A state-changing request with a session cookie but without this session's CSRF token."""


def csrf_token(session_secret: str) -> str:
    """The session's CSRF token: derived from its secret, so it needs no storage and dies with the
    session; another site can neither read the cookie nor compute this."""
    return hashlib.sha256(b"gridedge-csrf\0" + session_secret.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that takes any text (compare_digest raises on non-ASCII str)."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Centre:
    """What the HTTP layer works with; built by the service, or by a test around a bare store."""

    store: CaseStore
    accounts: Accounts
    stats: IngestStats
    feed: ChangeFeed
    clock: Clock
    downlink: Downlink
    secure_cookies: bool = True
    """Cookies only over HTTPS; off only for a plain-HTTP demo or test on one machine."""
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    gateways: GatewayBoard = field(default_factory=GatewayBoard)  # each gateway's retained status

    def officer(self, request: Request) -> Officer | None:
        secret = bearer(request) or request.cookies.get(SESSION_COOKIE)
        return self.accounts.holder(secret, now=self.clock.now()) if secret else None

    def check_csrf(self, request: Request, given: str | None) -> None:
        """CsrfError unless a request that changes state with the session cookie carries its token.
        A bearer token is not sent by browsers on their own, so it needs none."""
        if request.method in SAFE_METHODS or bearer(request):
            return
        session = request.cookies.get(SESSION_COOKIE)
        if session is None or given is None or not same_secret(given, csrf_token(session)):
            raise CsrfError

    def stats_view(self, officer: Officer) -> StatsView:
        scope = officer.jurisdiction
        return StatsView.of(
            self.stats,
            revisions=self.store.count_revisions(scope),
            cases=self.store.count_cases(scope),
            open_cases=self.store.count_cases(scope, CaseQuery(open_only=True)),
            city_wide=officer.role is Role.ADMIN,
        )

    async def act(self, officer: Officer, event_id: str, request: ActionRequest) -> Case:
        case = await asyncio.to_thread(
            self.store.act,
            officer,
            event_id,
            request.action,
            now=self.clock.now(),
            comment=request.comment,
            unit=request.unit or None,
        )
        self.feed.publish([(case.district_code, case.street_code, case.community_code, case.grid_code)])
        if request.action in ACK_ACTIONS:
            await self.downlink.send(Ack(case.gateway_id, case.event_id, request.action, officer.username))
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


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() or None if auth.lower().startswith("bearer ") else None


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
    )

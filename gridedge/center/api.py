"""The centre's HTTP face: the JSON API for integrations and the officers' console, both behind login.

Every request names its officer (a session cookie from the login page, or `Authorization: Bearer`
with an API token), and every read passes that officer's jurisdiction to the store. A case outside it
answers 404, the same as a case that does not exist, so ids of other grids cannot be probed.
Handlers that read the store are plain functions, which FastAPI runs in its thread pool, so a slow
query never stalls ingest on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gridedge.center.access import AccessDeniedError, Officer
from gridedge.center.accounts import Accounts
from gridedge.center.admin_pages import admin_routes
from gridedge.center.downlink import Downlink, NoDownlink
from gridedge.center.figures import Figure, to_csv
from gridedge.center.gateways import GatewayBoard, GatewayStatus
from gridedge.center.headers import SecurityHeaders
from gridedge.center.live import ChangeFeed
from gridedge.center.pages import console_routes
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseNotFoundError, CaseStore
from gridedge.center.throttle import LoginThrottle
from gridedge.center.views import (
    ActionRequest,
    CaseDetail,
    CaseView,
    GridCount,
    Health,
    RevisionView,
    StatsView,
    StepView,
)
from gridedge.center.web import CSRF_HEADER, Centre, CsrfError, case_query, centre_of
from gridedge.center.workflow import CaseState, WorkflowError
from gridedge.edge.clock import Clock, SystemClock
from gridedge.edge.event import Severity
from gridedge.edge.grid import Level

STREAM_RETRY_MS = 2000
"""How soon a browser reconnects the change stream after losing it."""
STREAM_MIN_INTERVAL_S = 0.5
"""At most two change notices a second per watcher: a burst of events becomes one refresh."""
GRID_PREFIX = r"^[A-Za-z0-9_.-]{1,64}(/[A-Za-z0-9_.-]{1,64}){0,3}$"


def api_officer(request: Request) -> Officer:
    centre = centre_of(request)
    officer = centre.officer(request)
    if officer is None:
        raise HTTPException(401, "log in or send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
    try:
        centre.check_csrf(request, request.headers.get(CSRF_HEADER))
    except CsrfError:
        raise HTTPException(403, f"a change made with the session cookie needs the {CSRF_HEADER} header") from None
    return officer


ApiOfficer = Annotated[Officer, Depends(api_officer)]


def create_app(
    store: CaseStore,
    *,
    stats: IngestStats | None = None,
    feed: ChangeFeed | None = None,
    clock: Clock | None = None,
    downlink: Downlink | None = None,
    secure_cookies: bool = True,
    throttle: LoginThrottle | None = None,
    accounts: Accounts | None = None,
    gateways: GatewayBoard | None = None,
) -> FastAPI:
    """`stats` and `feed` come from the running ingest; left out, the API serves a store on its own.
    `secure_cookies` off only for plain HTTP on one machine (the demo)."""
    clock = clock or SystemClock()
    centre = Centre(
        store=store,
        accounts=accounts or Accounts(store.engine, clock=clock),
        stats=stats if stats is not None else IngestStats(),
        feed=feed if feed is not None else ChangeFeed(),
        clock=clock,
        downlink=downlink or NoDownlink(),
        secure_cookies=secure_cookies,
        throttle=throttle or LoginThrottle(clock=clock),
        gateways=gateways if gateways is not None else GatewayBoard(),
    )
    app = FastAPI(title="GridEdge grid centre", summary="Grid-event cases of one jurisdiction, in six steps.")
    app.state.centre = centre
    app.add_middleware(SecurityHeaders)

    @app.get("/api/health")
    def health() -> Health:
        return Health(broker_connected=centre.stats.broker_connected)

    @app.get("/api/me")
    def me(officer: ApiOfficer) -> dict[str, object]:
        return {
            "username": officer.username,
            "name": officer.name,
            "role": officer.role,
            "level": officer.level,
            "jurisdiction": list(officer.jurisdiction),
        }

    gateway_routes(app, centre.gateways)

    @app.get("/api/cases")
    def list_cases(
        officer: ApiOfficer,
        *,
        status: Literal["open", "all"] = "open",
        state: CaseState | None = None,
        source_status: Literal["firing", "update", "resolved"] | None = None,
        category: str | None = None,
        severity: Severity | None = None,
        level: Level | None = None,
        grid: Annotated[str | None, Query(pattern=GRID_PREFIX, description="Grid codes, e.g. D01/S01")] = None,
        overdue: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[CaseView]:
        query = case_query(
            centre.clock,
            status=status,
            state=state,
            source_status=source_status,
            category=category,
            severity=severity,
            level=level,
            grid=grid,
            overdue=overdue,
        )
        return [CaseView.of(c) for c in store.cases(officer.jurisdiction, query, limit=limit, offset=offset)]

    @app.get("/api/cases/{event_id}")
    def get_case(officer: ApiOfficer, event_id: str) -> CaseDetail:
        try:
            row = store.case(officer.jurisdiction, event_id)
        except CaseNotFoundError as err:
            raise HTTPException(404, str(err)) from None
        return CaseDetail(
            case=CaseView.of(row),
            revisions=[RevisionView.of(r) for r in store.revisions(officer.jurisdiction, event_id)],
            steps=[StepView.of(s) for s in store.steps(officer.jurisdiction, event_id)],
        )

    @app.post("/api/cases/{event_id}/actions")
    async def act(officer: ApiOfficer, event_id: str, request: ActionRequest) -> CaseView:
        """Take the next workflow step. 409 when the step is not allowed from the case's state."""
        try:
            return CaseView.of(await centre.act(officer, event_id, request))
        except CaseNotFoundError as err:
            raise HTTPException(404, str(err)) from None
        except AccessDeniedError as err:
            raise HTTPException(403, str(err)) from None
        except WorkflowError as err:
            raise HTTPException(409, str(err)) from None

    @app.get("/api/evidence/{sha256}", response_class=Response)
    def evidence(officer: ApiOfficer, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]) -> Response:
        """A snapshot as published, for an officer who sees cases of the gateway that sent it."""
        try:
            content = store.evidence(officer.jurisdiction, sha256)
        except CaseNotFoundError as err:
            raise HTTPException(404, str(err)) from None
        return Response(content, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    @app.get("/api/grid")
    def grid_tree(officer: ApiOfficer) -> list[GridCount]:
        return centre.grid(officer)

    @app.get("/api/figures")
    def figures(officer: ApiOfficer, since: datetime | None = None, until: datetime | None = None) -> list[Figure]:
        return centre.figures(officer, since, until)

    @app.get("/api/figures.csv", response_class=PlainTextResponse)
    def figures_csv(officer: ApiOfficer, since: datetime | None = None, until: datetime | None = None) -> Response:
        return Response(
            to_csv(centre.figures(officer, since, until)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="figures.csv"'},
        )

    @app.get("/api/stats")
    def get_stats(officer: ApiOfficer) -> StatsView:
        return centre.stats_view(officer)

    @app.get("/api/stream", response_class=EventSourceResponse)
    async def stream(officer: ApiOfficer) -> AsyncIterator[ServerSentEvent]:
        """One notice now and one after each change in the officer's subtree; the data counts this
        stream's notices (not the city's changes, which are none of a grid officer's business)."""
        feed = centre.feed
        seen, notices = feed.version, 0
        yield ServerSentEvent(data={"version": notices}, retry=STREAM_RETRY_MS)
        while (latest := await feed.next_version(seen, officer.jurisdiction)) is not None:
            seen, notices = latest, notices + 1
            yield ServerSentEvent(data={"version": notices})
            await asyncio.sleep(STREAM_MIN_INTERVAL_S)

    console_routes(app, centre)
    admin_routes(app, centre)
    return app


def gateway_routes(app: FastAPI, board: GatewayBoard) -> None:
    @app.get("/api/gateways")
    def list_gateways(officer: ApiOfficer) -> list[GatewayStatus]:
        """Each gateway's last status in the officer's jurisdiction: online or not, storage trouble,
        incidents held back (silenced, inhibited, flood) and the silences in force."""
        return board.visible(officer)

    @app.get("/api/gateways/{gateway_id}")
    def get_gateway(officer: ApiOfficer, gateway_id: str) -> GatewayStatus:
        found = board.get(officer, gateway_id)
        if found is None:
            raise HTTPException(404, f"no gateway {gateway_id!r} heard from in your jurisdiction")
        return found

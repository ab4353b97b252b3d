"""The centre's HTTP face: JSON API for integrations, the console page, and a change stream.

Handlers that read the store are plain functions, which FastAPI runs in its thread pool, so a slow
query never stalls ingest on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from gridedge.center.console import render_live, render_page
from gridedge.center.live import ChangeFeed
from gridedge.center.stats import IngestStats
from gridedge.center.store import CaseStore
from gridedge.center.views import CaseDetail, CaseView, Health, RevisionView, StatsView

STREAM_RETRY_MS = 2000
"""How soon a browser reconnects the change stream after losing it."""
STREAM_MIN_INTERVAL_S = 0.5
"""At most two change notices a second per watcher: a burst of events becomes one refresh."""
CONSOLE_ROWS = 500
"""The console shows at most this many open cases, most severe first."""
GRID_PREFIX = r"^[A-Za-z0-9_.-]{1,64}(/[A-Za-z0-9_.-]{1,64}){0,3}$"


def create_app(store: CaseStore, *, stats: IngestStats | None = None, feed: ChangeFeed | None = None) -> FastAPI:
    """`stats` and `feed` come from the running ingest; left out, the API serves a store on its own."""
    stats = stats if stats is not None else IngestStats()
    feed = feed if feed is not None else ChangeFeed()
    app = FastAPI(title="GridEdge grid centre", summary="Grid-event cases of one jurisdiction.")

    def stats_view() -> StatsView:
        return StatsView.of(
            stats,
            revisions=store.count_revisions(),
            cases=store.count_cases(),
            open_cases=store.count_cases("open"),
        )

    def open_cases() -> list[CaseView]:
        return [CaseView.of(c) for c in store.open_cases(limit=CONSOLE_ROWS)]

    @app.get("/api/health")
    def health() -> Health:
        return Health(broker_connected=stats.broker_connected)

    @app.get("/api/cases")
    def list_cases(
        status: Literal["open", "resolved", "all"] = "open",
        category: str | None = None,
        grid: Annotated[str | None, Query(pattern=GRID_PREFIX, description="Grid codes, e.g. D01/S01")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[CaseView]:
        rows = store.cases(
            None if status == "all" else status,
            category=category,
            prefix=grid.split("/") if grid else (),
            limit=limit,
        )
        return [CaseView.of(c) for c in rows]

    @app.get("/api/cases/{event_id}")
    def get_case(event_id: str) -> CaseDetail:
        row = store.case(event_id)
        if row is None:
            raise HTTPException(status_code=404, detail=f"no case {event_id}")
        revisions = [RevisionView.of(r) for r in store.revisions(event_id)]
        return CaseDetail(case=CaseView.of(row), revisions=revisions)

    @app.get("/api/stats")
    def get_stats() -> StatsView:
        return stats_view()

    @app.get("/api/stream", response_class=EventSourceResponse)
    async def stream() -> AsyncIterator[ServerSentEvent]:
        """One notice now and one after each change; the data is the feed's version number."""
        seen = feed.version
        yield ServerSentEvent(data={"version": seen}, retry=STREAM_RETRY_MS)
        while (latest := await feed.next_version(seen)) is not None:
            seen = latest
            yield ServerSentEvent(data={"version": seen})
            await asyncio.sleep(STREAM_MIN_INTERVAL_S)

    @app.get("/", response_class=HTMLResponse)
    def console() -> str:
        return render_page(open_cases(), stats_view())

    @app.get("/fragments/open-cases", response_class=HTMLResponse)
    def console_live() -> str:
        return render_live(open_cases(), stats_view())

    return app

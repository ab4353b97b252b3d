"""The console's overview pages and their JSON: the grid map, charts of cases over time, the gateways
page; and the case-list extras (bulk verify/reject, photos attached at steps). Every read is scoped by
the officer's jurisdiction in the query; pages are templates, data comes from same-origin JSON."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridedge.center.access import AccessDeniedError, Officer
from gridedge.center.console import page
from gridedge.center.gateways import GatewayView, gateways
from gridedge.center.overview import CasesOverTime, CellHeat, ChartBy, cases_over_time, grid_heat
from gridedge.center.pages import PageViewer, PostingViewer, error_response
from gridedge.center.photos import photo
from gridedge.center.render import render
from gridedge.center.settings import load_grid_map
from gridedge.center.store import CaseNotFoundError
from gridedge.center.views import ActionRequest
from gridedge.center.web import ApiOfficer, Centre
from gridedge.center.workflow import Action, WorkflowError

BULK_ACTIONS = (Action.VERIFY, Action.REJECT)
MAX_BULK = 200
"""Cases one bulk step may take: a page of the list at most, so one request stays short."""


def overview_routes(app: FastAPI, centre: Centre) -> None:
    zone = ZoneInfo(centre.console.time_zone)

    def in_scope(officer: Officer, feature: dict[str, Any]) -> bool:
        codes = str(feature["properties"]["grid"]).split("/")
        depth = min(len(codes), len(officer.jurisdiction))
        return tuple(codes[:depth]) == officer.jurisdiction[:depth]

    @app.get("/api/grid/map")
    def grid_map(officer: ApiOfficer) -> dict[str, Any]:
        """The configured grid cells (GeoJSON) inside the officer's jurisdiction; empty when none is configured."""
        path = centre.console.grid_map
        if path is None:
            return {"type": "FeatureCollection", "features": []}
        data = load_grid_map(path)
        return {**data, "features": [f for f in data["features"] if in_scope(officer, f)]}

    @app.get("/api/grid/heat")
    def heat(officer: ApiOfficer) -> list[CellHeat]:
        return grid_heat(centre.store.engine, officer.jurisdiction)

    @app.get("/api/charts/cases")
    def chart(
        officer: ApiOfficer, by: ChartBy = "category", days: Annotated[int, Query(ge=1, le=366)] = 30
    ) -> CasesOverTime:
        return cases_over_time(
            centre.store.engine, officer.jurisdiction, by, until=centre.clock.now(), days=days, zone=zone
        )

    @app.get("/api/gateways")
    def gateway_list(officer: ApiOfficer) -> list[GatewayView]:
        return gateways(centre.store.engine, officer.jurisdiction)

    @app.get("/api/gateways/{gateway_id}")
    def gateway_one(officer: ApiOfficer, gateway_id: str) -> GatewayView:
        """One gateway's last status (silences in force, incidents held back, storage), if in scope."""
        found = [g for g in gateways(centre.store.engine, officer.jurisdiction) if g.gateway_id == gateway_id]
        if not found:
            raise HTTPException(404, "no such gateway in your jurisdiction")
        return found[0]

    @app.get("/map", response_class=HTMLResponse)
    def map_page(viewer: PageViewer) -> str:
        return page("map.html", "地图 Map", viewer, has_map=centre.console.grid_map is not None)

    @app.get("/charts", response_class=HTMLResponse)
    def charts_page(viewer: PageViewer) -> str:
        return page("charts.html", "图表 Charts", viewer)

    @app.get("/gateways", response_class=HTMLResponse)
    def gateways_page(viewer: PageViewer) -> str:
        rows = gateways(centre.store.engine, viewer.officer.jurisdiction)
        return page("gateways.html", "网关 Gateways", viewer, gateways=rows)

    @app.get("/fragments/gateways", response_class=HTMLResponse)
    def gateways_fragment(viewer: PageViewer) -> str:
        return render("gateways_live.html", gateways=gateways(centre.store.engine, viewer.officer.jurisdiction))

    @app.post("/cases/bulk")
    async def bulk(
        viewer: PostingViewer,
        request: Request,
        action: Annotated[str, Form()],
        comment: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        """Verify or reject the selected cases one by one; the list page says what was refused and why."""
        form = await request.form()
        chosen = [str(v) for v in form.getlist("case")][: MAX_BULK + 1]
        try:
            step = Action(action)
        except ValueError:
            step = None
        if step not in BULK_ACTIONS or not chosen or len(chosen) > MAX_BULK:
            return error_response(
                viewer, 400, f"选择 1-{MAX_BULK} 个案件并核实或误报 / choose 1-{MAX_BULK} cases to verify or reject"
            )
        done, refused = 0, []
        for event_id in chosen:
            try:
                await centre.act(viewer.officer, event_id, ActionRequest(action=step, comment=comment))
                done += 1
            except (CaseNotFoundError, WorkflowError, AccessDeniedError) as err:
                refused.append(f"{event_id}: {err}")
        if refused:
            message = f"{done} 件已办理 / done; {len(refused)} 件未办理 / refused: " + "; ".join(refused[:20])
            return error_response(viewer, 409, message)
        back = request.headers.get("referer", "/")
        return RedirectResponse(back if back.startswith(str(request.base_url)) else "/", status_code=303)

    @app.get("/cases/{event_id}/photos/{photo_id}", response_class=Response)
    def case_photo(viewer: PageViewer, event_id: str, photo_id: Annotated[int, Path(ge=1)]) -> Response:
        try:
            content_type, content = photo(centre.store, viewer.officer.jurisdiction, event_id, photo_id)
        except CaseNotFoundError as err:
            raise HTTPException(404, str(err)) from None
        return Response(content, media_type=content_type, headers={"Cache-Control": "private, max-age=86400"})

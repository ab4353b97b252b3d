"""The console's routes: login, case list (with its live fragment), case page and its action forms,
grid tree, figures, and the console's error pages. A request without a valid session is sent to the
login page. Pages come from the autoescaping templates (console.py, render.py), never from strings.

The session cookie is HttpOnly and SameSite=Strict, so another site cannot post an action form
with an officer's session.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridedge.center.access import AccessDeniedError, Officer
from gridedge.center.accounts import MAX_PASSWORD, SESSION, SESSION_TTL_S
from gridedge.center.console import (
    CaseListing,
    Viewer,
    case_list_live,
    case_list_page,
    case_page,
    error_page,
    figures_page,
    grid_page,
    login_page,
)
from gridedge.center.photos import MAX_PHOTOS_PER_STEP, PhotoError, accept_photos, case_photos
from gridedge.center.policy import suggested_unit
from gridedge.center.store import CaseNotFoundError, CaseQuery, CaseSort
from gridedge.center.throttle import ThrottledError
from gridedge.center.views import MAX_COMMENT, ActionRequest, CaseDetail, CaseView, RevisionView, StatsView, StepView
from gridedge.center.web import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Centre,
    CsrfError,
    NotLoggedInError,
    case_query,
    centre_of,
    csrf_token,
    same_secret,
)
from gridedge.center.workflow import Action, CaseState, WorkflowError
from gridedge.edge.event import Severity
from gridedge.edge.grid import Level

log = logging.getLogger(__name__)

FORGED_FORM = (
    "表单已失效或来自其他网站 请刷新页面 / this form expired or came from another site: reload the page, try again"
)
LOGIN_FORM_TTL_S = 3600
"""How long a login form stays good (its CSRF cookie)."""
PAGE_ROWS = 50
"""Cases per page of the console's list; the page says how many there are in all."""
MAX_PAGE = 100_000
OPEN_IN_SCOPE = CaseQuery(open_only=True)
ERROR_HEADINGS = {
    400: "请求有误 / Bad request",
    401: "请登录 / Please log in",
    403: "无权操作 / Not allowed",
    404: "未找到 / Not found",
    405: "不支持的操作 / Method not allowed",
    409: "无法办理 / Not possible now",
    422: "输入有误 / Invalid input",
    500: "内部错误 / Internal error",
}


def page_viewer(request: Request) -> Viewer:
    """The officer of a console request and their session's CSRF token; NotLoggedInError without one."""
    officer = centre_of(request).officer(request)
    if officer is None:
        raise NotLoggedInError
    session = request.cookies.get(SESSION_COOKIE)
    return Viewer(officer, csrf_token(session) if session else "")


PageViewer = Annotated[Viewer, Depends(page_viewer)]


def posting_viewer(viewer: PageViewer, request: Request, csrf: Annotated[str | None, Form()] = None) -> Viewer:
    """For a console form: the viewer, once the form's CSRF token is this session's (else CsrfError)."""
    centre_of(request).check_csrf(request, csrf)
    return viewer


PostingViewer = Annotated[Viewer, Depends(posting_viewer)]


def console_routes(app: FastAPI, centre: Centre) -> None:
    static = resources.files("gridedge.center") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="console-static")
    error_pages(app, centre)
    login_routes(app, centre)
    case_routes(app, centre)

    @app.get("/grid", response_class=HTMLResponse)
    def grid(viewer: PageViewer) -> str:
        return grid_page(viewer, centre.grid(viewer.officer))

    @app.get("/figures", response_class=HTMLResponse)
    def figures(viewer: PageViewer, since: str = "", until: str = "") -> Response:
        try:
            start = _day(since) if since else None
            end = _day(until) + timedelta(days=1) if until else None
        except ValueError:
            return error_response(viewer, 400, "日期格式 YYYY-MM-DD / dates are YYYY-MM-DD")
        return HTMLResponse(figures_page(viewer, centre.figures(viewer.officer, start, end), since, until))


def error_response(viewer: Viewer | None, status: int, message: str) -> HTMLResponse:
    heading = ERROR_HEADINGS.get(status, f"错误 / Error {status}")
    return HTMLResponse(error_page(viewer, heading, message), status_code=status)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_pages(app: FastAPI, centre: Centre) -> None:
    """The API keeps FastAPI's JSON errors; every other path answers with a console page."""

    def viewer_or_none(request: Request) -> Viewer | None:
        try:
            return page_viewer(request)
        except NotLoggedInError:
            return None

    async def page(request: Request, status: int, message: str) -> HTMLResponse:
        return error_response(await asyncio.to_thread(viewer_or_none, request), status, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return await http_exception_handler(request, exc)
        message = exc.detail if isinstance(exc.detail, str) else ERROR_HEADINGS.get(exc.status_code, "")
        response = await page(request, exc.status_code, message)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return await request_validation_exception_handler(request, exc)
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or '?'}: {e.get('msg', '')}" for e in exc.errors()
        )
        return await page(request, 422, fields)

    @app.exception_handler(CsrfError)
    async def forged(request: Request, _exc: CsrfError) -> Response:
        log.warning("refused %s %s: no valid CSRF token", request.method, request.url.path)
        return await page(
            request,
            403,
            FORGED_FORM,
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        if _is_api(request):
            return JSONResponse({"detail": "internal error"}, status_code=500)
        return error_response(None, 500, "请稍后再试 / please try again later")


def login_routes(app: FastAPI, centre: Centre) -> None:
    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="strict", secure=centre.secure_cookies
        )

    def login_form(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
        """The login page with a fresh CSRF token in the form and in the login cookie."""
        token = secrets.token_urlsafe(32)
        response = HTMLResponse(login_page(token, error), status_code=status)
        set_cookie(response, LOGIN_COOKIE, token, LOGIN_FORM_TTL_S)
        return response

    @app.exception_handler(NotLoggedInError)
    async def to_login(_request: Request, _exc: NotLoggedInError) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    def login_page_route(request: Request) -> Response:
        return login_form(request)

    @app.post("/login")
    async def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=MAX_PASSWORD)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        expected = request.cookies.get(LOGIN_COOKIE)
        if not expected or not same_secret(csrf, expected):
            return login_form(request, "登录表单已失效 请重试 / the login form expired: please try again", 403)
        address = request.client.host if request.client else "unknown"
        try:
            centre.throttle.check(username, address)
            officer = await centre.throttle.run(centre.accounts.login, username, password)
        except ThrottledError as throttled:
            log.warning("login of %r from %s refused: %s", username, address, throttled)
            wait = throttled.retry_after_s
            message = f"尝试次数过多 请 {wait} 秒后再试 / {throttled}: try again in {wait} s"
            response = login_form(request, message, 429)
            response.headers["Retry-After"] = str(wait)
            return response
        if officer is None:
            centre.throttle.failed(username, address)
            return login_form(request, "用户名或密码错误 / wrong username or password", 401)
        centre.throttle.succeeded(username)
        now = centre.clock.now()
        secret = await asyncio.to_thread(
            centre.accounts.issue, officer.username, kind=SESSION, label=address, now=now, ttl_s=SESSION_TTL_S
        )
        done = RedirectResponse("/", status_code=303)
        set_cookie(done, SESSION_COOKIE, secret, SESSION_TTL_S)
        done.delete_cookie(LOGIN_COOKIE)
        return done

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str | None, Form()] = None) -> Response:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            centre.check_csrf(request, csrf)
            centre.accounts.revoke(secret)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def case_routes(app: FastAPI, centre: Centre) -> None:
    def listed(officer: Officer, request: Request, stats: StatsView) -> CaseListing:
        p = request.query_params
        scope = officer.jurisdiction
        now = centre.clock.now()
        try:
            page = max(1, min(int(p.get("page") or 1), MAX_PAGE))
            query = case_query(
                centre.clock,
                status=p.get("status") or "open",
                state=CaseState(p["state"]) if p.get("state") else None,
                category=p.get("category") or None,
                severity=Severity(p["severity"]) if p.get("severity") else None,
                level=Level(p["level"]) if p.get("level") else None,
                grid=p.get("grid") or None,
                overdue=p.get("overdue") in ("1", "true", "on"),
                search=(p.get("q") or "")[:200],
            )
            sort = CaseSort(p.get("sort") or CaseSort.PRIORITY)
            query = centre.store.resolve_search(scope, query)
            late = centre.store.count_late(scope, query, now)  # shown in the header and where the page starts
            offset = (page - 1) * PAGE_ROWS
            rows = centre.store.cases(scope, query, limit=PAGE_ROWS, offset=offset, sort=sort, now=now, late_total=late)
            # The default list is every open case in scope: the page's header has just counted them.
            total = stats.open_cases if query == OPEN_IN_SCOPE else centre.store.count_cases(scope, query)
        except ValueError:
            # a hand-edited filter the store refuses lists nothing rather than failing the page
            return CaseListing(cases=[], total=0, page=1, page_rows=PAGE_ROWS, late=0)
        return CaseListing(cases=[CaseView.of(c) for c in rows], total=total, page=page, page_rows=PAGE_ROWS, late=late)

    @app.get("/", response_class=HTMLResponse)
    def case_list(viewer: PageViewer, request: Request) -> str:
        stats = centre.stats_view(viewer.officer)
        listing = listed(viewer.officer, request, stats)
        return case_list_page(viewer, dict(request.query_params), listing, stats)

    @app.get("/fragments/cases", response_class=HTMLResponse)
    def case_list_fragment(viewer: PageViewer, request: Request) -> str:
        stats = centre.stats_view(viewer.officer)
        return case_list_live(dict(request.query_params), listed(viewer.officer, request, stats), stats)

    def render_case(viewer: Viewer, event_id: str, error: str = "") -> str:
        scope = viewer.officer.jurisdiction
        row = centre.store.case(scope, event_id)
        detail = CaseDetail(
            case=CaseView.of(row),
            revisions=[RevisionView.of(r) for r in centre.store.revisions(scope, row.event_id)],
            steps=[StepView.of(s) for s in centre.store.steps(scope, row.event_id)],
        )
        policy = centre.store.policy
        unit = suggested_unit(policy, row.category, Level(row.level))
        return case_page(
            viewer,
            detail,
            units=policy.units,
            suggested_unit=unit,
            photos=case_photos(centre.store, scope, row.event_id),
            photo_max_bytes=centre.console.photo_max_bytes,
            error=error,
        )

    @app.get("/cases/{event_id}", response_class=HTMLResponse)
    def case(viewer: PageViewer, event_id: str) -> Response:
        try:
            return HTMLResponse(render_case(viewer, event_id))
        except CaseNotFoundError as err:
            return error_response(viewer, 404, str(err))

    @app.post("/cases/{event_id}/actions")
    async def act(
        viewer: PostingViewer,
        event_id: str,
        *,
        action: Annotated[str, Form()],
        comment: Annotated[str, Form(max_length=MAX_COMMENT)] = "",
        unit: Annotated[str, Form(max_length=64)] = "",
        confirm_source_firing: Annotated[str, Form(max_length=8)] = "",
        photos: Annotated[list[UploadFile] | None, File()] = None,
    ) -> Response:
        limit = centre.console.photo_max_bytes
        try:
            files = (photos or [])[: MAX_PHOTOS_PER_STEP + 1]
            uploads = [(f.filename or "photo", await f.read(limit + 1)) for f in files]
            confirmed = bool(confirm_source_firing)
            step = ActionRequest(
                action=Action(action), comment=comment, unit=unit or None, confirm_source_firing=confirmed
            )
            await centre.act(viewer.officer, event_id, step, accept_photos(uploads, limit))
        except CaseNotFoundError as err:
            return error_response(viewer, 404, str(err))
        except PhotoError as err:
            try:
                html = await asyncio.to_thread(render_case, viewer, event_id, str(err))
            except CaseNotFoundError as missing:
                return error_response(viewer, 404, str(missing))
            return HTMLResponse(html, status_code=413)
        except (WorkflowError, AccessDeniedError, ValueError) as err:
            status = 403 if isinstance(err, AccessDeniedError) else 409
            try:
                html = await asyncio.to_thread(render_case, viewer, event_id, str(err))
            except CaseNotFoundError as missing:
                return error_response(viewer, 404, str(missing))
            return HTMLResponse(html, status_code=status)
        return RedirectResponse(f"/cases/{quote(event_id, safe='')}", status_code=303)


def _day(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)

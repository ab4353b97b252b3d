"""The admins' pages (officers, API tokens, audit log, dead letters) and every officer's account page.

Each change goes through `Accounts`, which writes the audit log in the same transaction; every form
carries the session's CSRF token (PostingViewer) and every admin route checks the role first.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Path
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridedge.center.access import Role
from gridedge.center.accounts import MAX_PASSWORD, TOKEN_ID_LEN
from gridedge.center.console import Viewer, page
from gridedge.center.pages import PageViewer, PostingViewer
from gridedge.center.throttle import ThrottledError
from gridedge.center.web import SESSION_COOKIE, Centre

AUDIT_ROWS = 500
DEAD_LETTER_ROWS = 200
DAY_S = 86400.0
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""A grid code (edge.grid.Code)."""
Username = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


def admin_viewer(viewer: PageViewer) -> Viewer:
    if viewer.officer.role is not Role.ADMIN:
        raise HTTPException(403, "只有管理员 / admins only")
    return viewer


def posting_admin(viewer: PostingViewer) -> Viewer:
    return admin_viewer(viewer)


AdminViewer = Annotated[Viewer, Depends(admin_viewer)]
PostingAdmin = Annotated[Viewer, Depends(posting_admin)]


def codes(text: str) -> tuple[str, ...]:
    """`D01/S01` as codes; ValueError for anything that is not."""
    parts = tuple(p for p in text.strip().split("/") if p)
    if any(not _CODE.fullmatch(p) for p in parts):
        raise ValueError(f"not grid codes: {text!r}")
    return parts


def admin_routes(app: FastAPI, centre: Centre) -> None:
    officer_routes(app, centre)
    token_routes(app, centre)
    record_routes(app, centre)
    account_routes(app, centre)


def officer_routes(app: FastAPI, centre: Centre) -> None:
    accounts = centre.accounts

    def officers_page(viewer: Viewer, message: str = "", error: str = "", status: int = 200) -> HTMLResponse:
        html = page(
            "admin_officers.html",
            "官员 Officers",
            viewer,
            officers=accounts.officers(),
            roles=[r.value for r in Role],
            message=message,
            error=error,
        )
        return HTMLResponse(html, status_code=status)

    def done(viewer: Viewer, what: str) -> HTMLResponse:
        return officers_page(viewer, message=what)

    def refused(viewer: Viewer, err: ValueError) -> HTMLResponse:
        return officers_page(viewer, error=str(err), status=400)

    @app.get("/admin", response_class=HTMLResponse)
    def officers(viewer: AdminViewer) -> HTMLResponse:
        return officers_page(viewer)

    @app.post("/admin/officers", response_class=HTMLResponse)
    def create_officer(
        viewer: PostingAdmin,
        *,
        username: Annotated[str, Form(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
        name: Annotated[str, Form(min_length=1, max_length=100)],
        role: Annotated[Role, Form()],
        password: Annotated[str, Form(max_length=MAX_PASSWORD)],
        jurisdiction: Annotated[str, Form(max_length=300)] = "",
    ) -> HTMLResponse:
        try:
            accounts.add_officer(username, name, role, codes(jurisdiction), password, actor=viewer.officer.username)
        except ValueError as err:
            return refused(viewer, err)
        return done(viewer, f"已创建 created {username}")

    @app.post("/admin/officers/{username}/disable", response_class=HTMLResponse)
    def disable(viewer: PostingAdmin, username: Username) -> HTMLResponse:
        if username == viewer.officer.username:
            return refused(viewer, ValueError("不能停用自己 / you cannot disable yourself"))
        try:
            accounts.set_disabled(viewer.officer.username, username, True)
        except ValueError as err:
            return refused(viewer, err)
        return done(viewer, f"已停用 disabled {username}: 其会话已结束 / their sessions ended")

    @app.post("/admin/officers/{username}/enable", response_class=HTMLResponse)
    def enable(viewer: PostingAdmin, username: Username) -> HTMLResponse:
        try:
            accounts.set_disabled(viewer.officer.username, username, False)
        except ValueError as err:
            return refused(viewer, err)
        return done(viewer, f"已启用 enabled {username}")

    @app.post("/admin/officers/{username}/password", response_class=HTMLResponse)
    def reset_password(
        viewer: PostingAdmin, username: Username, password: Annotated[str, Form(max_length=MAX_PASSWORD)]
    ) -> HTMLResponse:
        try:
            accounts.reset_password(viewer.officer.username, username, password)
        except ValueError as err:
            return refused(viewer, err)
        return done(viewer, f"已重置密码 password reset for {username}: 其会话已结束 / their sessions ended")

    @app.post("/admin/officers/{username}/role", response_class=HTMLResponse)
    def set_role(
        viewer: PostingAdmin,
        username: Username,
        role: Annotated[Role, Form()],
        jurisdiction: Annotated[str, Form(max_length=300)] = "",
    ) -> HTMLResponse:
        try:
            accounts.set_role(viewer.officer.username, username, role, codes(jurisdiction))
        except ValueError as err:
            return refused(viewer, err)
        return done(viewer, f"已更新 updated {username}")


def token_routes(app: FastAPI, centre: Centre) -> None:
    accounts = centre.accounts

    def tokens_page(viewer: Viewer, secret: str = "", error: str = "", status: int = 200) -> HTMLResponse:
        html = page(
            "admin_tokens.html",
            "接口令牌 API tokens",
            viewer,
            tokens=accounts.tokens(),
            officers=accounts.officers(),
            secret=secret,
            error=error,
        )
        return HTMLResponse(html, status_code=status)

    @app.get("/admin/tokens", response_class=HTMLResponse)
    def tokens(viewer: AdminViewer) -> HTMLResponse:
        return tokens_page(viewer)

    @app.post("/admin/tokens", response_class=HTMLResponse)
    def issue_token(
        viewer: PostingAdmin,
        officer: Annotated[str, Form(max_length=64)],
        label: Annotated[str, Form(min_length=1, max_length=100)],
        days: Annotated[int, Form(ge=0, le=3650)] = 90,
    ) -> HTMLResponse:
        try:
            secret = accounts.issue_token(viewer.officer.username, officer, label, days * DAY_S or None)
        except ValueError as err:
            return tokens_page(viewer, error=str(err), status=400)
        return tokens_page(viewer, secret=secret)

    @app.post("/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
    def revoke_token(
        viewer: PostingAdmin, token_id: Annotated[str, Path(pattern=f"^[0-9a-f]{{{TOKEN_ID_LEN}}}$")]
    ) -> HTMLResponse:
        if not accounts.revoke_token(viewer.officer.username, token_id):
            return tokens_page(viewer, error=f"没有令牌 no token {token_id}", status=404)
        return tokens_page(viewer)


def record_routes(app: FastAPI, centre: Centre) -> None:
    accounts, store = centre.accounts, centre.store

    @app.get("/admin/audit", response_class=HTMLResponse)
    def audit(viewer: AdminViewer) -> str:
        return page("admin_audit.html", "审计日志 Audit log", viewer, entries=accounts.audit_log(limit=AUDIT_ROWS))

    @app.get("/admin/dead-letters", response_class=HTMLResponse)
    def dead_letters(viewer: AdminViewer) -> str:
        letters, total = store.dead_letters(limit=DEAD_LETTER_ROWS), store.count_dead_letters()
        return page("admin_dead_letters.html", "拒收消息 Dead letters", viewer, letters=letters, total=total)


def account_routes(app: FastAPI, centre: Centre) -> None:
    accounts = centre.accounts

    @app.get("/account", response_class=HTMLResponse)
    def account(viewer: PageViewer) -> str:
        return page("account.html", "账户 Account", viewer, error="")

    @app.post("/account/password")
    async def change_password(
        viewer: PostingViewer,
        current: Annotated[str, Form(max_length=MAX_PASSWORD)],
        new: Annotated[str, Form(max_length=MAX_PASSWORD)],
    ) -> Response:
        username = viewer.officer.username
        try:
            changed = await centre.throttle.run(accounts.change_password, username, current, new)
        except ThrottledError as err:
            changed, error = False, f"{err}: 请稍后再试 / try again in {err.retry_after_s} s"
        except ValueError as err:
            changed, error = False, str(err)
        else:
            error = "" if changed else "当前密码错误 / the current password is wrong"
        if not changed:
            html = await asyncio.to_thread(page, "account.html", "账户 Account", viewer, error=error)
            return HTMLResponse(html, status_code=400)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

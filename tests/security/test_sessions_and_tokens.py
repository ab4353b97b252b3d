"""CSRF refused everywhere a session changes state; sessions end on a password change or when the
account is disabled; API tokens expire, are revoked, and leave with the config file; all audited."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from gridedge.center.accounts import Accounts
from gridedge.center.service import seed_accounts
from gridedge.center.settings import ApiToken, CenterConfig
from gridedge.center.store import CaseStore
from gridedge.center.web import CSRF_HEADER, SESSION_COOKIE
from gridedge.cli import app as cli
from gridedge.edge.clock import FakeClock
from tests.center.conftest import BASE_URL, PASSWORD, TOKEN, form_token, login, post_form

NEW_PASSWORD = "a new long password"


def test_a_state_change_without_the_sessions_csrf_token_is_refused(app_client: TestClient) -> None:
    login(app_client, "comm1")
    url = "/cases/evt-smoke-01/actions"
    assert app_client.post(url, data={"action": "verify"}).status_code == 403
    assert app_client.post(url, data={"action": "verify", "csrf": "0" * 64}).status_code == 403
    assert app_client.post(url, data={"action": "verify", "csrf": "\u00e9" * 64}).status_code == 403  # not ASCII
    # The JSON API with the session cookie needs the header; a bearer token needs none.
    token = app_client.headers.pop(CSRF_HEADER)
    assert app_client.post("/api/cases/evt-smoke-01/actions", json={"action": "verify"}).status_code == 403
    assert app_client.get("/api/cases/evt-smoke-01").json()["case"]["state"] == "reported"
    # Another officer's token does not fit this session.
    with TestClient(app_client.app, base_url=BASE_URL) as other:
        login(other, "grid1")
        foreign_token = other.headers[CSRF_HEADER]
    assert foreign_token != token
    assert app_client.post(url, data={"action": "verify", "csrf": foreign_token}).status_code == 403
    assert app_client.post("/logout", data={"csrf": foreign_token}).status_code == 403
    assert app_client.get("/api/me").status_code == 200  # still logged in: the forged logout did nothing
    app_client.headers[CSRF_HEADER] = token
    assert post_form(app_client, url, {"action": "verify"}, follow_redirects=False).status_code == 303
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app_client.app, base_url=BASE_URL) as script:
        assert (
            script.post("/api/cases/evt-shop-001/actions", json={"action": "verify"}, headers=bearer).status_code == 200
        )


def test_login_needs_the_login_forms_token(app_client: TestClient) -> None:
    data = {"username": "comm1", "password": PASSWORD}
    assert app_client.post("/login", data=data).status_code == 403
    token = form_token(app_client.get("/login").text)
    app_client.cookies.clear()  # a form posted from elsewhere: no login cookie of ours
    assert app_client.post("/login", data={**data, "csrf": token}).status_code == 403


def test_cookies_are_secure_httponly_and_strict(app_client: TestClient) -> None:
    token = form_token(app_client.get("/login").text)
    r = app_client.post(
        "/login", data={"username": "comm1", "password": PASSWORD, "csrf": token}, follow_redirects=False
    )
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict"):
        assert flag.lower() in cookie.lower(), cookie


def test_a_password_change_ends_every_session(app_client: TestClient) -> None:
    login(app_client, "comm1")
    with TestClient(app_client.app, base_url=BASE_URL) as second:
        login(second, "comm1")
        wrong = post_form(app_client, "/account/password", {"current": "not it", "new": NEW_PASSWORD})
        assert wrong.status_code == 400
        changed = post_form(
            app_client, "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD}, follow_redirects=False
        )
        assert (changed.status_code, changed.headers["location"]) == (303, "/login")
        assert second.get("/api/me").status_code == 401
    assert app_client.get("/api/me").status_code == 401
    login(app_client, "comm1", NEW_PASSWORD)


def test_disabling_ends_sessions_and_stops_tokens(app_client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}  # street1's integration token
    with TestClient(app_client.app, base_url=BASE_URL) as street:
        login(street, "street1")
        login(app_client, "admin")
        assert post_form(app_client, "/admin/officers/street1/disable", {}).status_code == 200
        assert street.get("/api/me").status_code == 401
        assert app_client.get("/api/me", headers=bearer).status_code == 401
    token = form_token(app_client.get("/login").text)
    r = app_client.post("/login", data={"username": "street1", "password": PASSWORD, "csrf": token})
    assert r.status_code == 401
    login(app_client, "admin")
    assert post_form(app_client, "/admin/officers/street1/enable", {}).status_code == 200
    assert app_client.get("/api/me", headers=bearer).json()["username"] == "street1"
    audit = app_client.get("/admin/audit").text
    assert "officer.disable" in audit
    assert "officer.enable" in audit


def test_api_tokens_expire_and_are_revoked(app_client: TestClient, clock: FakeClock, store: CaseStore) -> None:
    login(app_client, "admin")
    page = post_form(app_client, "/admin/tokens", {"officer": "grid1", "label": "city platform", "days": "1"}).text
    secret = page.split('id="new-token">')[1].split("<code>")[1].split("</code>")[0]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app_client.get("/api/me", headers=bearer).json()["username"] == "grid1"
    clock.advance(86400 + 1)
    assert app_client.get("/api/me", headers=bearer).status_code == 401
    accounts = Accounts(store.engine)
    assert accounts.purge_expired(clock.now()) >= 2  # the token and the admin's 12-hour session
    assert app_client.get("/admin/tokens", follow_redirects=False).status_code == 303
    login(app_client, "admin")
    page = post_form(app_client, "/admin/tokens", {"officer": "grid2", "label": "forever", "days": "0"}).text
    secret = page.split('id="new-token">')[1].split("<code>")[1].split("</code>")[0]
    (info,) = accounts.tokens("grid2")
    assert info.expires_at is None
    revoked = post_form(app_client, f"/admin/tokens/{info.token_id}/revoke", {})
    assert revoked.status_code == 200
    assert app_client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    actions = [a.action for a in accounts.audit_log()]
    assert actions[:2] == ["token.revoke", "token.issue"]


def test_a_token_removed_from_the_config_file_stops_working(tmp_path: Path) -> None:
    store = CaseStore(f"sqlite:///{tmp_path / 'centre.db'}")
    store.migrate()
    accounts = Accounts(store.engine)
    token = "integration-token-0123456789abcdef"
    officer = {"username": "admin", "name": "Admin", "role": "admin", "password": "admin-password"}
    with_token = CenterConfig.model_validate(
        {"officers": [officer], "api_tokens": [{"officer": "admin", "token": token}]}
    )
    seed_accounts(with_token, accounts)
    assert accounts.holder(token, now=0) is not None
    seed_accounts(with_token.model_copy(update={"api_tokens": []}), accounts)
    assert accounts.holder(token, now=0) is None
    assert accounts.audit_log()[0].action == "token.revoke"
    other = ApiToken(officer="admin", token=SecretStr("another-token-0123456789abcdef"))
    seed_accounts(with_token.model_copy(update={"api_tokens": [other]}), accounts)
    assert accounts.holder(other.token.get_secret_value(), now=0) is not None
    store.close()


def test_the_cli_manages_officers_and_tokens(tmp_path: Path) -> None:
    config = tmp_path / "centre.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'centre.db'}\n")
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> str:
        result = runner.invoke(cli, ["center-admin", *args, "--config", str(config)], input=input)
        assert result.exit_code == 0, result.output
        return result.output

    run(
        "officer",
        "add",
        "grid9",
        "--name",
        "九 Nine",
        "--role",
        "grid",
        "--jurisdiction",
        "D01/S01/C01/G09",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert "grid9\tgrid\tD01/S01/C01/G09\tactive" in run("officer", "list")
    secret = run("token", "issue", "grid9", "--label", "script", "--days", "30").strip().splitlines()[-1]
    store = CaseStore(f"sqlite:///{tmp_path / 'centre.db'}")
    accounts = Accounts(store.engine)
    assert accounts.holder(secret, now=time.time() + 29 * 86400) is not None
    assert accounts.holder(secret, now=time.time() + 31 * 86400) is None  # expires in 30 days, not never
    (info,) = accounts.tokens("grid9")
    assert info.token_id in run("token", "list")
    run("token", "revoke", info.token_id)
    assert accounts.tokens("grid9") == []
    run("officer", "disable", "grid9")
    run("officer", "reset-password", "grid9", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert accounts.login("grid9", NEW_PASSWORD) is None  # still disabled
    run("officer", "enable", "grid9")
    assert accounts.login("grid9", NEW_PASSWORD) is not None
    audit = run("audit")
    for action in ("officer.create", "token.issue", "token.revoke", "officer.disable", "officer.reset_password"):
        assert f"\tcli\t{action}\t" in audit, action
    failed = runner.invoke(cli, ["center-admin", "officer", "disable", "nobody", "--config", str(config)])
    assert (failed.exit_code, "no officer 'nobody'" in failed.output) == (1, True)
    store.close()

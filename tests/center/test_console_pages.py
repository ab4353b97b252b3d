"""The console's pages come from autoescaping templates: every error is a styled page with the way
back, a hostile URL stays text, and the API keeps its JSON errors."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.center.conftest import login, post_form

HOSTILE = "<img src=x onerror=alert(1)>"


def test_a_hostile_case_id_in_the_url_is_shown_as_text_on_a_styled_404(app_client: TestClient) -> None:
    login(app_client, "grid1")
    response = app_client.get(f"/cases/{HOSTILE}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
    assert '<link rel="stylesheet" href="/static/console.css">' in response.text
    assert '<a href="/grid">' in response.text  # the officer's navigation
    assert "未找到 / Not found" in response.text


def test_console_errors_are_pages_and_api_errors_stay_json(app_client: TestClient) -> None:
    unknown = app_client.get("/no/such/page")
    assert unknown.status_code == 404
    assert '<a href="/login">' in unknown.text  # not logged in: the way to the login page
    assert app_client.get("/api/no-such-route").json() == {"detail": "Not Found"}

    login(app_client, "comm1")
    missing_field = post_form(app_client, "/cases/evt-smoke-01/actions", {"comment": "no action"})
    assert missing_field.status_code == 422
    assert "输入有误 / Invalid input" in missing_field.text
    assert "action: Field required" in missing_field.text
    bad_date = app_client.get("/figures?since=yesterday")
    assert (bad_date.status_code, "dates are YYYY-MM-DD" in bad_date.text) == (400, True)
    assert '<a href="/figures">' in bad_date.text
    wrong_method = app_client.delete("/grid")
    assert wrong_method.status_code == 405
    assert "<header>" in wrong_method.text
    api = app_client.post("/api/cases/evt-smoke-01/actions", json={})
    assert api.status_code == 422
    assert api.json()["detail"][0]["loc"] == ["body", "action"]


def test_the_stylesheet_and_scripts_are_served_by_the_centre(app_client: TestClient) -> None:
    for path in ("/static/console.css", "/static/console.js", "/static/cases.js"):
        response = app_client.get(path)
        assert response.status_code == 200, path
        assert "://" not in response.text
    login(app_client, "grid1")
    page = app_client.get("/").text
    assert page.index('src="/static/console.js"') < page.index('src="/static/cases.js"')
    assert "<script>" not in page  # no inline script: the content security policy forbids them all
    assert "script-src 'self';" in app_client.get("/").headers["content-security-policy"]


def test_a_comment_with_control_characters_is_refused_with_the_reason(app_client: TestClient) -> None:
    login(app_client, "comm1")
    page = post_form(app_client, "/cases/evt-smoke-01/actions", {"action": "verify", "comment": "ok\x00not"})
    assert page.status_code == 409
    assert "control character U+0000" in page.text
    api = app_client.post("/api/cases/evt-smoke-01/actions", json={"action": "verify", "comment": "x" * 2001})
    assert api.status_code == 422
    assert app_client.get("/api/cases/evt-smoke-01").json()["case"]["state"] == "reported"

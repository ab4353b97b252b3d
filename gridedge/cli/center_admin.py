"""`gridedge center-admin ...`: officers, API tokens, the audit log and dead letters from a shell, for
the first admin and for scripts. The same `Accounts` calls as the admin pages, audited as `cli`.

Each command opens the case store the config file names (migrating it first, as the centre does).
The centre is imported inside the commands: `gridedge agent` never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gridedge.center.accounts import Accounts
    from gridedge.center.store import CaseStore

ACTOR = "cli"
ConfigOption = Annotated[Path, typer.Option("--config", help="Centre configuration file (names the database).")]
Jurisdiction = Annotated[str, typer.Option(help="Grid codes from the district down, e.g. D01/S01; empty for admin.")]

center_admin_app = typer.Typer(no_args_is_help=True, help="Officers, API tokens, audit log and dead letters.")
officer_app = typer.Typer(no_args_is_help=True, help="Create, disable, reset and re-role officers.")
token_app = typer.Typer(no_args_is_help=True, help="Issue, list and revoke API tokens.")
center_admin_app.add_typer(officer_app, name="officer")
center_admin_app.add_typer(token_app, name="token")


@contextmanager
def _opened(config: Path) -> Iterator[tuple[CaseStore, Accounts]]:
    from gridedge.center.accounts import Accounts
    from gridedge.center.settings import load_center_config
    from gridedge.center.store import CaseStore
    from gridedge.edge.errors import ConfigError

    try:
        settings = load_center_config(config)
    except ConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    store = CaseStore(settings.database, settings.policy)
    try:
        store.migrate()
        yield store, Accounts(store.engine)
    finally:
        store.close()


def _codes(text: str) -> tuple[str, ...]:
    return tuple(p for p in text.split("/") if p)


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"refused: {err}", err=True)
    return typer.Exit(1)


def _when(epoch_s: float | None) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M UTC") if epoch_s else "-"


def _password(prompt: str) -> str:
    text: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return text


@officer_app.command("add")
def officer_add(
    username: str,
    config: ConfigOption,
    name: Annotated[str, typer.Option(help="Name shown in the console.")],
    role: Annotated[str, typer.Option(help="grid, community, street, district or admin.")],
    jurisdiction: Jurisdiction = "",
) -> None:
    """Create an officer; the password is asked for (never an argument: it would stay in shell history)."""
    from gridedge.center.access import Role

    with _opened(config) as (_, accounts):
        try:
            accounts.add_officer(username, name, Role(role), _codes(jurisdiction), _password("Password"), actor=ACTOR)
        except ValueError as err:
            raise _fail(err) from None
    typer.echo(f"created {username}")


@officer_app.command("list")
def officer_list(config: ConfigOption) -> None:
    with _opened(config) as (_, accounts):
        for info in accounts.officers():
            o = info.officer
            state = "disabled" if info.disabled else "active"
            typer.echo(f"{o.username}\t{o.role.value}\t{'/'.join(o.jurisdiction) or '-'}\t{state}\t{o.name}")


@officer_app.command("disable")
def officer_disable(username: str, config: ConfigOption) -> None:
    """Disable an officer: their sessions end now and their API tokens stop working."""
    with _opened(config) as (_, accounts):
        try:
            accounts.set_disabled(ACTOR, username, True)
        except ValueError as err:
            raise _fail(err) from None
    typer.echo(f"disabled {username}")


@officer_app.command("enable")
def officer_enable(username: str, config: ConfigOption) -> None:
    with _opened(config) as (_, accounts):
        try:
            accounts.set_disabled(ACTOR, username, False)
        except ValueError as err:
            raise _fail(err) from None
    typer.echo(f"enabled {username}")


@officer_app.command("reset-password")
def officer_reset_password(username: str, config: ConfigOption) -> None:
    """Set a new password (asked for); the officer's sessions end."""
    with _opened(config) as (_, accounts):
        try:
            accounts.reset_password(ACTOR, username, _password("New password"))
        except ValueError as err:
            raise _fail(err) from None
    typer.echo(f"password reset for {username}")


@officer_app.command("role")
def officer_role(
    username: str,
    config: ConfigOption,
    role: Annotated[str, typer.Option(help="grid, community, street, district or admin.")],
    jurisdiction: Jurisdiction = "",
) -> None:
    from gridedge.center.access import Role

    with _opened(config) as (_, accounts):
        try:
            accounts.set_role(ACTOR, username, Role(role), _codes(jurisdiction))
        except ValueError as err:
            raise _fail(err) from None
    typer.echo(f"{username} is now {role} {jurisdiction or '(whole city)'}")


@token_app.command("issue")
def token_issue(
    officer: str,
    config: ConfigOption,
    label: Annotated[str, typer.Option(help="What the token is for (shown in lists).")],
    days: Annotated[int, typer.Option(min=0, max=3650, help="Days it is valid; 0 never expires.")] = 90,
) -> None:
    """Issue a token acting as OFFICER; it is printed once, here (only its hash is kept)."""
    with _opened(config) as (_, accounts):
        try:
            secret = accounts.issue_token(ACTOR, officer, label, days * 86400.0 or None)
        except ValueError as err:
            raise _fail(err) from None
    typer.echo(secret)


@token_app.command("list")
def token_list(config: ConfigOption) -> None:
    with _opened(config) as (_, accounts):
        for t in accounts.tokens():
            typer.echo(f"{t.token_id}\t{t.username}\t{t.kind}\texpires {_when(t.expires_at)}\t{t.label}")


@token_app.command("revoke")
def token_revoke(token_id: str, config: ConfigOption) -> None:
    with _opened(config) as (_, accounts):
        if not accounts.revoke_token(ACTOR, token_id):
            raise _fail(ValueError(f"no token {token_id}"))
    typer.echo(f"revoked {token_id}")


@center_admin_app.command("audit")
def audit(config: ConfigOption, limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """The newest entries of the audit log: who changed which account or token."""
    with _opened(config) as (_, accounts):
        for a in accounts.audit_log(limit=limit):
            typer.echo(f"{_when(a.at)}\t{a.actor}\t{a.action}\t{a.target}\t{a.detail}")


@center_admin_app.command("dead-letters")
def dead_letters(config: ConfigOption, limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """The newest messages ingest refused for good, with why."""
    from gridedge.center.render import payload_head

    with _opened(config) as (store, _):
        for d in store.dead_letters(limit=limit):
            typer.echo(
                f"{_when(d.received_at)}\t{d.reason}\t{d.topic}\t{d.size} B\t{d.detail}\t{payload_head(d.payload, 80)}"
            )

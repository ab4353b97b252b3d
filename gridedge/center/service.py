"""The grid centre as one service: case store, MQTT ingest and the HTTP server in one event loop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from gridedge.center.accounts import Accounts
from gridedge.center.api import create_app
from gridedge.center.downlink import Downlink, MqttDownlink
from gridedge.center.ingest import Ingest
from gridedge.center.live import ChangeFeed
from gridedge.center.settings import CenterConfig
from gridedge.center.store import CaseStore
from gridedge.edge.clock import Clock, SystemClock
from gridedge.serving import embedded_server, listen

log = logging.getLogger(__name__)

READY_POLL_S = 0.02
GRACEFUL_HTTP_SHUTDOWN_S = 5
HOUSEKEEPING_S = 600.0
"""How often expired sessions and tokens, and old dead letters, are deleted."""
DEAD_LETTER_KEEP_S = 30 * 86400.0


async def run_center(
    config: CenterConfig,
    *,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    downlink: Downlink | None = None,
) -> None:
    """Serve until `stop` is set or the task is cancelled, then shut down HTTP, ingest and escalation.

    `ready` is set once ingest is subscribed and HTTP is listening. The schema is migrated first, and
    the officers and API tokens the config names are created when missing.
    """
    store = CaseStore(config.database, config.policy)
    try:
        await asyncio.to_thread(store.migrate)
        accounts = Accounts(store.engine)
        await asyncio.to_thread(seed_accounts, config, accounts)
        feed = ChangeFeed()
        ingest = Ingest(config, store, on_stored=lambda events: feed.publish(e.grid.codes() for e in events))
        commands = _command_channel(config) if downlink is None else None
        app = create_app(
            store,
            stats=ingest.stats,
            feed=feed,
            downlink=downlink or commands,
            secure_cookies=config.http.secure_cookies,
            accounts=accounts,
            gateways=ingest.gateways,
        )
        server = embedded_server(app, GRACEFUL_HTTP_SHUTDOWN_S)
        with listen(config.http.host, config.http.port) as sock:
            host, port = sock.getsockname()[:2]
            log.info("grid centre console and API at http://%s:%d/", host, port)
            tasks = [
                asyncio.create_task(ingest.run(), name="center-ingest"),
                asyncio.create_task(server.serve(sockets=[sock]), name="center-http"),
                asyncio.create_task(escalate_forever(store, feed, config.escalation_check_s), name="center-escalation"),
                asyncio.create_task(housekeeping_forever(accounts, store, HOUSEKEEPING_S), name="center-housekeeping"),
            ]
            if commands is not None:
                tasks.append(asyncio.create_task(commands.run(), name="center-downlink"))
            try:
                await _serve_until_stopped(stop or asyncio.Event(), ready, server, ingest, tasks)
            finally:
                feed.close()
                server.should_exit = True
                for task in (tasks[0], *tasks[2:]):
                    task.cancel()
                await asyncio.wait(tasks)
        _raise_failure(tasks)
    finally:
        store.close()
    log.info("grid centre stopped")


def _command_channel(config: CenterConfig) -> MqttDownlink | None:
    if config.command_key_file is None:
        return None
    path = config.command_key_file
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as err:
        raise ValueError(f"command_key_file {path}: cannot read a hex key ({err})") from None
    return MqttDownlink(config.broker, secret, f"{config.client_id}-cmd", tls=config.tls)


def seed_accounts(config: CenterConfig, accounts: Accounts) -> None:
    """Create the configured officers that do not exist yet (a changed password is not overwritten:
    officers change their own), and register the configured API tokens."""
    for seed in config.officers:
        if accounts.officer(seed.username) is None:
            accounts.add_officer(
                seed.username, seed.name, seed.role, seed.jurisdiction, seed.password.get_secret_value()
            )
    for token in config.api_tokens:
        if accounts.officer(token.officer) is None:
            raise ValueError(f"api_tokens: no officer {token.officer!r} for token {token.label!r}")
    accounts.sync_config_tokens((t.officer, t.token.get_secret_value(), t.label) for t in config.api_tokens)


async def housekeeping_forever(
    accounts: Accounts, store: CaseStore, every_s: float, clock: Clock | None = None
) -> None:
    """Delete expired sessions and tokens (a stolen old cookie is not even a row any more) and dead
    letters older than DEAD_LETTER_KEEP_S (junk from a broken gateway does not fill the disk)."""
    clock = clock or SystemClock()
    while True:
        now = clock.now()
        try:
            sessions = await asyncio.to_thread(accounts.purge_expired, now)
            letters = await asyncio.to_thread(store.purge_dead_letters, now - DEAD_LETTER_KEEP_S)
        except SQLAlchemyError:
            log.exception("housekeeping failed; next round in %.0f s", every_s)
        else:
            if sessions or letters:
                log.info("purged %d expired sessions and tokens, %d old dead letters", sessions, letters)
        await asyncio.sleep(every_s)


async def escalate_forever(store: CaseStore, feed: ChangeFeed, every_s: float, clock: Clock | None = None) -> None:
    """Raise late cases one level, every `every_s` seconds; a database error waits for the next round."""
    clock = clock or SystemClock()
    while True:
        try:
            raised = await asyncio.to_thread(store.escalate_overdue, clock.now())
        except SQLAlchemyError:
            log.exception("escalation round failed; next round in %.0f s", every_s)
        else:
            if raised:
                log.info("escalated %d late cases", len(raised))
                feed.publish()
        await asyncio.sleep(every_s)


async def _serve_until_stopped(
    stop: asyncio.Event,
    ready: asyncio.Event | None,
    server: uvicorn.Server,
    ingest: Ingest,
    tasks: list[asyncio.Task[None]],
) -> None:
    while not (server.started and ingest.stats.broker_connected):
        if stop.is_set() or any(t.done() for t in tasks):
            return
        await asyncio.sleep(READY_POLL_S)
    log.info("grid centre ready")
    if ready is not None:
        ready.set()
    stopping = asyncio.create_task(stop.wait(), name="center-stop")
    try:
        await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        await asyncio.wait([stopping])


def _raise_failure(tasks: list[asyncio.Task[None]]) -> None:
    """A task that ended on its own with an error is the centre's error."""
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc

"""Nothing forged: passwords, per-gateway ACLs, TLS and signed downlink commands against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import aiomqtt
import pytest

from gridedge.cloud_bridge import Outbox, OutMessage, Uplink, UplinkState, event_message
from gridedge.cloud_bridge.access import Accounts, CentreAccount, GatewayAccount
from gridedge.cloud_bridge.credentials import write_credentials
from gridedge.cloud_bridge.downlink import Downlink
from gridedge.cloud_bridge.settings import TlsSettings
from gridedge.edge.broker import BrokerConfig
from gridedge.edge.clock import SystemClock
from gridedge.edge.command import CommandName, reply_topic, sign
from gridedge.edge.event import Severity
from gridedge.edge.reconnect import Backoff
from gridedge.edge.topics import event_topic
from tests.cloud_bridge.helpers import GATEWAY, centre, eventually, make_event, stored_revisions
from tests.cloud_bridge.secure import make_pki, secured_mosquitto

pytestmark = pytest.mark.integration

OTHER = "gw-other"
ACCOUNTS = Accounts(
    gateways=[
        GatewayAccount(id=GATEWAY, grid=("d1", "s1", "c1", "g1"), grids=[("d1", "s2", "c5", "g7")]),
        GatewayAccount(id=OTHER, grid=("d1", "s1", "c1", "g2")),
    ],
    centres=[CentreAccount(name="centre-d1", jurisdiction=("d1",))],
)


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    out = tmp_path / "creds"
    write_credentials(ACCOUNTS, out)
    return out


def password(creds: Path, user: str) -> str:
    return (creds / "secrets" / f"{user}.password").read_text().strip()


@pytest.fixture
def acl_broker(tmp_path: Path, creds: Path) -> Iterator[int]:
    with secured_mosquitto(tmp_path, f"password_file {creds / 'passwd'}\nacl_file {creds / 'acl'}\n") as port:
        yield port


def uplink(
    outbox: Outbox,
    port: int,
    user: str,
    secret: str,
    *,
    protocol: Literal["3.1.1", "5"] = "5",
    tls: ssl.SSLContext | None = None,
    downlink: Downlink | None = None,
) -> Uplink:
    broker = BrokerConfig(host="127.0.0.1", port=port, username=user, password=secret, tls=tls is not None)
    backoff = Backoff(0.05, 0.2)
    return Uplink(outbox, broker, GATEWAY, protocol=protocol, tls=tls, backoff=backoff, downlink=downlink, timeout=2)


async def run_until(up: Uplink, condition: object) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(up.run(stop))
    try:
        assert callable(condition)
        await eventually(condition, within=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_wrong_password_is_refused_and_nothing_leaves_the_outbox(
    acl_broker: int, creds: Path, outbox: Outbox
) -> None:
    outbox.put(event_message(make_event()))
    up = uplink(outbox, acl_broker, GATEWAY, "not-the-password")
    await run_until(up, lambda: up.reconnects >= 2)
    assert up.published == 0
    assert outbox.depth() == 1
    assert up.last_error is not None
    assert "not authori" in up.last_error.lower() or "password" in up.last_error.lower()


def forged() -> OutMessage:
    """A well-formed event claiming to come from another gateway, in another grid cell."""
    body = json.loads(make_event("evt-forged").to_json())
    body["source"]["gateway_id"] = OTHER
    body["grid"]["grid"]["code"] = "g2"
    topic = event_topic(("d1", "s1", "c1", "g2"), OTHER)
    return OutMessage(topic=topic, payload=json.dumps(body).encode(), severity=Severity.CRITICAL)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_a_gateway_cannot_publish_as_another_and_the_centre_never_stores_it(
    acl_broker: int, creds: Path, outbox: Outbox, tmp_path: Path, protocol: Literal["3.1.1", "5"]
) -> None:
    database = tmp_path / "centre.db"
    outbox.put_many([forged(), *(event_message(make_event("evt-honest", seq)) for seq in (1, 2))])
    up = uplink(outbox, acl_broker, GATEWAY, password(creds, GATEWAY), protocol=protocol)
    async with centre(acl_broker, database, user=f"centre-d1:{password(creds, 'centre-d1')}@", jurisdiction=("d1",)):
        await run_until(up, lambda: len(stored_revisions(database)) == 2 and outbox.depth() == 0)
        await asyncio.sleep(0.2)  # the forged one went first on the same connection: it had its chance
    assert stored_revisions(database) == [("evt-honest", 1), ("evt-honest", 2)]
    if protocol == "5":  # MQTT 5 says "not authorized" in the PUBACK: kept aside, not lost, not retried
        assert outbox.set_aside_count() == 1
        assert up.published == 2
        assert up.refused == 1
    else:  # MQTT 3.1.1: Mosquitto acknowledges and drops it; the publisher cannot tell
        assert outbox.set_aside_count() == 0


def in_cell(event_id: str, cell: tuple[str, str, str, str]) -> OutMessage:
    body = json.loads(make_event(event_id).to_json())
    for level, code in zip(("district", "street", "community", "grid"), cell, strict=True):
        body["grid"][level]["code"] = code
    return OutMessage(topic=event_topic(cell, GATEWAY), payload=json.dumps(body).encode(), severity=Severity.MAJOR)


async def test_the_acl_covers_every_cell_of_the_inventory_and_a_refusal_is_seen_counted_and_kept(
    acl_broker: int, creds: Path, outbox: Outbox
) -> None:
    outbox.put_many(
        [
            in_cell("evt-home", ("d1", "s1", "c1", "g1")),
            in_cell("evt-device-cell", ("d1", "s2", "c5", "g7")),  # a device of its inventory is there
            in_cell("evt-elsewhere", ("d9", "s9", "c9", "g9")),  # nobody allowed it to speak for d9
        ]
    )
    up = uplink(outbox, acl_broker, GATEWAY, password(creds, GATEWAY))  # MQTT 5, the default
    await run_until(up, lambda: outbox.depth() == 0)
    assert (up.published, up.refused, outbox.set_aside_count()) == (2, 1, 1)


async def test_commands_are_answered_and_replayed_or_unsigned_ones_refused(
    acl_broker: int, creds: Path, outbox: Outbox
) -> None:
    key = bytes.fromhex((creds / "keys" / f"{GATEWAY}.key").read_text())
    pings: list[str] = []

    async def ping(command: object) -> dict[str, object]:
        pings.append("ping")
        return {"pong": True}

    downlink = Downlink(GATEWAY, key, {CommandName.PING: ping})
    up = uplink(outbox, acl_broker, GATEWAY, password(creds, GATEWAY), downlink=downlink)
    stop = asyncio.Event()
    task = asyncio.create_task(up.run(stop))
    command = sign(key, CommandName.PING, GATEWAY, now=SystemClock().now())
    unsigned = command.model_copy(update={"signature": ""})
    replies: list[dict[str, object]] = []
    try:
        async with aiomqtt.Client(
            "127.0.0.1", acl_broker, username="centre-d1", password=password(creds, "centre-d1")
        ) as officer:
            await officer.subscribe(reply_topic(GATEWAY, "ping"), qos=1)
            await eventually(lambda: up.state is UplinkState.CONNECTED)
            await asyncio.sleep(0.2)  # it subscribes to its command topics right after connecting
            for payload in (command.to_json(), command.to_json(), unsigned.to_json()):
                await officer.publish(command.topic, payload, qos=1)
            async with asyncio.timeout(10):
                async for message in officer.messages:
                    assert isinstance(message.payload, bytes)
                    replies.append(json.loads(message.payload))
                    if len(replies) == 3:
                        break
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [(r["ok"], r["detail"]) for r in replies] == [(True, ""), (False, "replayed"), (False, "unsigned")]
    assert replies[0]["result"] == {"pong": True}
    assert pings == ["ping"]
    assert downlink.refused == 2


@pytest.fixture
def tls_broker(tmp_path: Path, creds: Path) -> Iterator[tuple[int, Path]]:
    pki = make_pki(tmp_path / "pki")
    settings = (
        f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\nrequire_certificate true\n"
        f"password_file {creds / 'passwd'}\nacl_file {creds / 'acl'}\n"
    )
    with secured_mosquitto(tmp_path, settings) as port:
        yield port, tmp_path / "pki"


async def test_tls_with_the_right_ca_and_a_client_certificate_delivers(
    tls_broker: tuple[int, Path], creds: Path, outbox: Outbox
) -> None:
    port, pki = tls_broker
    tls = TlsSettings(ca_file=pki / "test-ca.pem", cert_file=pki / "test-client.pem", key_file=pki / "test-client.key")
    outbox.put(event_message(make_event()))
    up = uplink(outbox, port, GATEWAY, password(creds, GATEWAY), tls=tls.context())
    await run_until(up, lambda: outbox.depth() == 0)
    assert up.published == 1


@pytest.mark.parametrize("mistake", ["wrong CA", "no client certificate"])
async def test_tls_with_the_wrong_ca_or_without_a_client_certificate_fails(
    tls_broker: tuple[int, Path], creds: Path, outbox: Outbox, tmp_path: Path, mistake: str
) -> None:
    port, pki = tls_broker
    if mistake == "wrong CA":
        other = make_pki(tmp_path / "other", name="other")
        tls = TlsSettings(ca_file=other.ca, cert_file=other.client_cert, key_file=other.client_key)
    else:
        tls = TlsSettings(ca_file=pki / "test-ca.pem")
    outbox.put(event_message(make_event()))
    up = uplink(outbox, port, GATEWAY, password(creds, GATEWAY), tls=tls.context())
    await run_until(up, lambda: up.reconnects >= 2)
    assert up.published == 0
    assert outbox.depth() == 1
    assert up.last_error is not None
    if mistake == "wrong CA":
        assert "certificate verify failed" in up.last_error

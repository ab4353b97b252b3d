"""The centre on a broker configured like deploy/mosquitto: TLS only, client certificates required,
passwords and generated ACLs. Ingest and the downlink connect with the centre's own certificate;
without one the broker turns it away."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import httpx
import pytest

from gridedge.center.ingest import Ingest
from gridedge.center.settings import CenterConfig
from gridedge.center.store import CaseStore
from gridedge.cloud_bridge.access import Accounts, CentreAccount, GatewayAccount
from gridedge.cloud_bridge.credentials import write_credentials
from gridedge.edge.broker import TlsSettings
from gridedge.edge.topics import command_topic
from tests.center.events import make_event, topic_of
from tests.cloud_bridge.secure import Pki, make_pki, secured_mosquitto
from tests.security.centre import ADMIN_PASSWORD, centre_config, eventually, logged_in, running

pytestmark = pytest.mark.integration

GATEWAY = "gw-01"
ACCOUNTS = Accounts(
    gateways=[GatewayAccount(id=GATEWAY, grid=("D01", "S01", "C01", "G01"))],
    centres=[CentreAccount(name="centre-d1", jurisdiction=("D01",))],
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[int, Path, Pki]]:
    """Mosquitto with deploy/mosquitto's security lines: TLS 1.2+, require_certificate, passwd, acl."""
    creds = tmp_path / "creds"
    write_credentials(ACCOUNTS, creds)
    pki = make_pki(tmp_path / "pki")
    settings = (
        f"cafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        "require_certificate true\ntls_version tlsv1.2\n"
        f"password_file {creds / 'passwd'}\nacl_file {creds / 'acl'}\n"
    )
    with secured_mosquitto(tmp_path, settings) as port:
        yield port, creds, pki


def secret(creds: Path, user: str) -> str:
    return (creds / "secrets" / f"{user}.password").read_text().strip()


def gateway_tls(pki: Pki) -> ssl.SSLContext:
    return TlsSettings(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key).context()


async def test_the_centre_ingests_and_commands_over_tls_with_a_client_certificate(
    site: tuple[int, Path, Pki], tmp_path: Path
) -> None:
    port, creds, pki = site
    (tmp_path / "city.key").write_text((creds / "secrets" / "city.key").read_text())
    config = centre_config(
        port,
        f"sqlite:///{tmp_path / 'centre.db'}",
        broker={"port": port, "username": "centre-d1", "password": secret(creds, "centre-d1")},
        tls={"ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)},
        jurisdiction=["D01"],
        command_key_file=str(tmp_path / "city.key"),
    )
    event = make_event("evt-tls-00001")
    async with (
        running(config) as base,
        httpx.AsyncClient(base_url=base) as http,
        aiomqtt.Client(
            "127.0.0.1", port, username=GATEWAY, password=secret(creds, GATEWAY), tls_context=gateway_tls(pki)
        ) as gateway,
    ):
        await logged_in(http, "admin", ADMIN_PASSWORD)
        await gateway.subscribe(command_topic(GATEWAY, "+"), qos=1)
        await gateway.publish(topic_of(event), event.to_json(), qos=1)
        await eventually(lambda: _has_case(http, event.event_id))
        response = await http.post(f"/api/cases/{event.event_id}/actions", json={"action": "verify"})
        assert response.status_code == 200, response.text
        async with asyncio.timeout(10):
            message = await anext(aiter(gateway.messages))
        command = json.loads(message.payload)  # type: ignore[arg-type]
        assert (command["name"], command["args"]["event_id"]) == ("ack", event.event_id)


async def _has_case(http: httpx.AsyncClient, event_id: str) -> bool:
    return (await http.get(f"/api/cases/{event_id}")).status_code == 200


async def test_without_its_client_certificate_the_centre_is_turned_away(
    site: tuple[int, Path, Pki], tmp_path: Path
) -> None:
    port, creds, pki = site
    config = CenterConfig.model_validate(
        {
            "broker": {"port": port, "username": "centre-d1", "password": secret(creds, "centre-d1")},
            "tls": {"ca_file": str(pki.ca)},
            "database": f"sqlite:///{tmp_path / 'centre.db'}",
        }
    )
    store = CaseStore(config.database)
    store.migrate()
    ingest = Ingest(config, store)
    task = asyncio.create_task(ingest.run())
    try:
        await asyncio.sleep(2)
        assert not ingest.stats.broker_connected
        assert not task.done()  # still trying, as it would through any outage
    finally:
        task.cancel()
        await asyncio.wait([task])
        store.close()


def test_the_centre_config_reads_tls_paths_relative_to_the_file(tmp_path: Path) -> None:
    from gridedge.center.settings import load_center_config

    path = tmp_path / "etc" / "centre.yaml"
    path.parent.mkdir()
    path.write_text(
        "broker: mqtts://broker:8883\ntls:\n  ca_file: certs/city-ca.pem\n  cert_file: c.pem\n  key_file: c.key\n"
    )
    config = load_center_config(path)
    assert config.tls is not None
    assert (config.tls.ca_file, config.tls.cert_file) == (path.parent / "certs/city-ca.pem", path.parent / "c.pem")

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gridedge.cli import app
from gridedge.cloud_bridge.access import Accounts, CentreAccount, GatewayAccount, acl_file, centre_acl, gateway_acl
from gridedge.edge.command import gateway_key

GW1 = GatewayAccount(id="gw-1", grid=("D01", "S01", "C01", "G01"))
GW2 = GatewayAccount(id="gw-2", grid=("D02", "S01", "C01", "G01"))
REPO = Path(__file__).parents[2]


def test_a_gateway_may_write_only_under_its_own_cell_and_id_and_read_only_its_commands() -> None:
    assert gateway_acl(GW1) == [
        "user gw-1",
        "topic write gridedge/v1/events/D01/S01/C01/G01/gw-1",
        "topic write gridedge/v1/evidence/gw-1/+",
        "topic write gridedge/v1/status/gw-1",
        "topic read gridedge/v1/cmd/gw-1/+",
        "topic write gridedge/v1/cmd/gw-1/+/reply",
    ]


def test_a_centre_reads_its_prefix_and_commands_only_the_gateways_inside_it() -> None:
    lines = centre_acl(CentreAccount(name="centre-d01", jurisdiction=("D01",)), [GW1, GW2])
    assert lines[:2] == ["user centre-d01", "topic read gridedge/v1/events/D01/#"]
    assert "topic write gridedge/v1/cmd/gw-1/+" in lines
    assert not [line for line in lines if "gw-2" in line]
    city = centre_acl(CentreAccount(name="city"), [GW1, GW2])
    assert city[1] == "topic read gridedge/v1/events/#"
    assert "topic write gridedge/v1/cmd/gw-2/+" in city


def test_the_cli_writes_hashed_passwords_acls_and_derived_command_keys(tmp_path: Path) -> None:
    out = tmp_path / "auth"
    result = CliRunner().invoke(
        app, ["bridge", "credentials", str(REPO / "deploy/mosquitto/accounts.example.yaml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    passwd = (out / "passwd").read_text()
    secret = (out / "secrets" / "gw-xc-0001.password").read_text().strip()
    assert "gw-xc-0001:$7$" in passwd
    assert secret not in passwd
    city = bytes.fromhex((out / "secrets" / "city.key").read_text())
    assert (out / "keys" / "gw-xc-0001.key").read_text().strip() == gateway_key(city, "gw-xc-0001").hex()
    assert (out / "acl").read_text() == acl_file(
        Accounts.model_validate(
            {
                "gateways": [
                    {"id": "gw-xc-0001", "grid": ["D01", "S01", "C01", "G01"]},
                    {"id": "gw-xc-0002", "grid": ["D01", "S01", "C02", "G03"]},
                ],
                "centres": [{"name": "centre-d01", "jurisdiction": ["D01"]}, {"name": "centre-city"}],
            }
        )
    )
    again = CliRunner().invoke(
        app, ["bridge", "credentials", str(REPO / "deploy/mosquitto/accounts.example.yaml"), "--out", str(out)]
    )
    assert again.exit_code == 0
    assert (out / "secrets" / "gw-xc-0001.password").read_text().strip() == secret  # nobody rotated by a rerun

"""`gridedge bridge ...`: broker credentials and ACLs for a city's gateways and centres."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridedge.edge.errors import ConfigError

bridge_app = typer.Typer(no_args_is_help=True, help="Broker credentials, ACLs and command keys for the cloud bridge.")


@bridge_app.command("credentials")
def credentials(
    accounts: Annotated[
        Path, typer.Argument(help="YAML listing gateways (id, grid) and centres (name, jurisdiction).")
    ],
    out: Annotated[Path, typer.Option(help="Directory for passwd, acl, secrets/ and keys/.")] = Path("broker-auth"),
) -> None:
    """Write Mosquitto's password and ACL files, each account's password and each gateway's command key."""
    from gridedge.cloud_bridge.access import Accounts
    from gridedge.cloud_bridge.credentials import CredentialsError, write_credentials
    from gridedge.edge.config import load_yaml

    try:
        written = write_credentials(load_yaml(accounts, Accounts), out)
    except ConfigError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None
    except CredentialsError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {written.passwd} and {written.acl} for {len(written.users)} accounts")
    typer.echo(f"passwords in {out / 'secrets'}, gateway command keys in {out / 'keys'}: hand each to its owner only")

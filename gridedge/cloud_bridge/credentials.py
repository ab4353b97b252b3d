"""Per-account broker credentials and downlink command keys, written where Mosquitto and the agents read them.

`write_credentials(accounts, out)` writes, under `out`:
- `passwd`: Mosquitto's password file, hashed by `mosquitto_passwd -U` (Mosquitto's own hashing,
  not ours); `acl`: the ACL file (access.py);
- `secrets/{user}.password`: each account's password (mode 0600), to hand to that gateway or centre;
- `secrets/city.key`: the city's command secret and `keys/{gateway}.key` each gateway's command key
  derived from it (edge/command.py), for the gateway's `uplink.command_key_file`.
Existing passwords and the city secret are kept, so adding a gateway and running it again rotates
nobody; delete a secret file to rotate it.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gridedge.cloud_bridge.access import Accounts, acl_file
from gridedge.edge.command import gateway_key
from gridedge.edge.errors import GridEdgeError


class CredentialsError(GridEdgeError):
    """The credentials cannot be written (mosquitto_passwd missing or failing)."""


@dataclass(frozen=True, slots=True)
class Written:
    passwd: Path
    acl: Path
    users: list[str]


def _secret(path: Path, make: int) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(make) + "\n")
    return path.read_text().strip()


def write_credentials(accounts: Accounts, out: Path) -> Written:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise CredentialsError("mosquitto_passwd not found (it comes with the mosquitto package)")
    users = [g.id for g in accounts.gateways] + [c.name for c in accounts.centres]
    if len(set(users)) != len(users):
        raise CredentialsError("every gateway id and centre name must be unique: they are MQTT user names")
    out.mkdir(parents=True, exist_ok=True)
    city = bytes.fromhex(_secret(out / "secrets" / "city.key", 32))
    for gateway in accounts.gateways:
        key = out / "keys" / f"{gateway.id}.key"
        key.parent.mkdir(parents=True, exist_ok=True)
        key.touch(mode=0o600)
        key.write_text(gateway_key(city, gateway.id).hex() + "\n")
    passwd = out / "passwd"
    passwd.touch(mode=0o600)
    passwd.write_text("".join(f"{u}:{_secret(out / 'secrets' / f'{u}.password', 24)}\n" for u in users))
    done = subprocess.run([tool, "-U", str(passwd)], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        passwd.unlink()  # never leave a plain-text password file behind
        raise CredentialsError(f"mosquitto_passwd failed: {done.stderr.strip()}")
    acl = out / "acl"
    acl.write_text(acl_file(accounts))
    return Written(passwd=passwd, acl=acl, users=users)

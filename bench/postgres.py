"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temporary folder, one free loopback port.

PostgreSQL refuses to run as root, so as root the server runs as `nobody`. Each test gets its own
database (`fresh_database`), so tests sharing the cluster never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from gridedge.devtools.broker import free_port

START_TIMEOUT_S = 30


def _bin_dir() -> Path | None:
    """Where initdb lives: a source build in /usr/local/bin, Debian's package under /usr/lib/postgresql."""
    candidates = [Path("/usr/local/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    found = next((d for d in candidates if (d / "initdb").exists()), None)
    on_path = shutil.which("initdb")
    return found or (Path(on_path).parent if on_path else None)


def available() -> bool:
    return _bin_dir() is not None


def _exe(name: str) -> str:
    bin_dir = _bin_dir()
    return str(bin_dir / name) if bin_dir is not None else name


class PostgresCluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self._count = 0

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_owner() -> dict[str, Any]:
    return {"user": "nobody", "group": "nogroup"} if os.geteuid() == 0 else {}


@contextmanager
def postgres_cluster(durable: bool = False) -> Iterator[PostgresCluster]:
    """A cluster for tests (`durable=False`: no fsync, nothing to lose) or for benchmarks (`durable=True`:
    PostgreSQL's own defaults, fsync, synchronous_commit and full_page_writes on, as deployed)."""
    with tempfile.TemporaryDirectory(prefix="gridedge-pg-") as tmp:
        root = Path(tmp)
        data, sockets = root / "data", root / "sock"
        sockets.mkdir()
        if os.geteuid() == 0:
            for path in (root, sockets):
                os.chown(path, 65534, 65534)
        no_sync = [] if durable else ["--no-sync"]
        subprocess.run(
            [_exe("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", *no_sync],
            check=True,
            capture_output=True,
            **_as_owner(),
        )
        port = free_port()
        options = f"-p {port} -k {sockets} -h 127.0.0.1 -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        # pg_ctl detaches the server, so its backends are never children of the test process.
        pg_ctl = [_exe("pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log")]
        subprocess.run(
            [*pg_ctl, "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"],
            check=True,
            capture_output=True,
            **_as_owner(),
        )
        try:
            yield PostgresCluster(root, port)
        finally:
            subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], check=False, capture_output=True, **_as_owner())

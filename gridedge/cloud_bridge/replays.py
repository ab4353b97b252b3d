"""The downlink's replay cache on disk, so a restart does not reopen the freshness window.

Without it, a command recorded by an attacker (or a retained one the broker hands out again on every
subscription) could be replayed for up to `MAX_AGE_S` after each restart of the agent. Each admitted
nonce is appended (one line: nonce, time first seen) and fsynced before its command runs; at start the
file is read, expired nonces are left out, and it is rewritten compact. A torn last line after a power
cut is a nonce whose command never ran, so skipping unreadable lines is safe.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

COMPACT_AFTER = 20_000
"""Lines appended before the file is rewritten with only the nonces still held."""


class ReplayLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._appended = 0

    def load(self) -> list[tuple[str, float]]:
        """Every readable (nonce, seen at) in the file, in file order."""
        if not self.path.exists():
            return []
        seen: list[tuple[str, float]] = []
        for number, line in enumerate(self.path.read_bytes().splitlines(), 1):
            try:
                nonce, at = line.decode("ascii").split(" ")
                seen.append((nonce, float(at)))
            except ValueError:
                log.warning("%s:%d: unreadable line skipped (a write cut short)", self.path, number)
        return seen

    def rewrite(self, seen: list[tuple[str, float]]) -> None:
        """Replace the file by these nonces, atomically (a power cut leaves the old file or the new)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write("".join(f"{nonce} {at!r}\n" for nonce, at in seen).encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        self._appended = 0

    def append(self, nonce: str, at: float) -> None:
        """Record one admitted nonce, durably, before its command runs."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(f"{nonce} {at!r}\n".encode("ascii"))
            f.flush()
            os.fsync(f.fileno())
        self._appended += 1

    @property
    def due_for_compaction(self) -> bool:
        return self._appended >= COMPACT_AFTER

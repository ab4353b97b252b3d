"""The HTTP server both programs embed (the centre's console and API, the agent's local API).

Neutral ground: it imports no other GridEdge package, so the gateway and the centre can share it
without the gateway pulling in the centre (SQLAlchemy, Alembic, the console) or the other way round.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the caller decides when the server stops (`stop` or
    cancellation), instead of uvicorn swallowing Ctrl+C and re-raising it after its own shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def embedded_server(app: FastAPI, graceful_shutdown_s: float) -> uvicorn.Server:
    """An HTTP server that runs as one task of a bigger asyncio program (the centre, the agent's API)."""
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=int(graceful_shutdown_s)
    )
    return _EmbeddedServer(config)


def listen(host: str, port: int) -> socket.socket:
    """Bind here rather than in uvicorn, so a taken port raises OSError instead of SystemExit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)

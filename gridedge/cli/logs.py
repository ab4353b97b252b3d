"""Log set-up for every command: readable lines on a terminal, one JSON object per line for a collector.

`GRIDEDGE_LOG_FORMAT=json` (e.g. in the systemd unit) switches to JSON: journald, Loki or Elastic
then get `time`, `level`, `logger` and `message` as fields. Secrets never reach a log line: they are
`SecretStr` in the config and print as `**********`.
"""

from __future__ import annotations

import logging
import os
import sys

from pythonjsonlogger.json import JsonFormatter

LOG_FORMAT_ENV = "GRIDEDGE_LOG_FORMAT"
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, log_format: str | None = None) -> None:
    chosen = (log_format or os.environ.get(LOG_FORMAT_ENV) or "text").lower()
    if chosen not in ("text", "json"):
        raise ValueError(f"{LOG_FORMAT_ENV} must be text or json, got {chosen!r}")
    handler = logging.StreamHandler(sys.stderr)
    if chosen == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)

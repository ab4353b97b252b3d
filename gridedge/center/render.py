"""Renders the console's Jinja2 templates (gridedge/center/templates), autoescaped: every value a
page shows is text unless a template says otherwise, so a hostile event title, comment, device id
or URL stays text in the officer's browser."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from gridedge.center import labels
from gridedge.center.text import control_character


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


def step_times(avg: Mapping[str, float]) -> str:
    """Average time per step, e.g. `已立案 5min · 已派遣 1.2h`."""
    return " · ".join(f"{labels.STATE_LABELS.get(s, s).split()[0]} {duration(v)}" for s, v in avg.items()) or "-"


def isotime(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def isodatetime(epoch_s: float) -> str:
    """For `<time datetime=...>`, which console.js turns into the officer's local time."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def payload_head(payload: bytes, limit: int = 300) -> str:
    """The start of a refused payload as readable text: UTF-8 where it is, escapes where it is not."""
    text = payload[:limit].decode("utf-8", errors="backslashreplace")
    shown = "".join(c if control_character(c) is None else f"\\x{ord(c):02x}" for c in text)
    return shown + ("…" if len(payload) > limit else "")


_ENV = Environment(
    loader=PackageLoader("gridedge.center", "templates"),
    autoescape=True,  # every template, whatever its name: there is no unescaped page
    undefined=StrictUndefined,  # a misspelt variable is an error in the tests, not an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters.update(
    percent=percent,
    duration=duration,
    step_times=step_times,
    isotime=isotime,
    isodatetime=isodatetime,
    payload_head=payload_head,
)
_ENV.globals.update(
    severity_labels=labels.SEVERITY_LABELS,
    status_labels=labels.STATUS_LABELS,
    state_labels=labels.STATE_LABELS,
    action_labels=labels.ACTION_LABELS,
    level_labels=labels.LEVEL_LABELS,
    columns=labels.COLUMNS,
)


def render(template: str, **context: Any) -> str:
    """One page or fragment as HTML text."""
    return _ENV.get_template(template).render(**context)

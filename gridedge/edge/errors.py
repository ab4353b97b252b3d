"""Errors that carry where the problem is, so a log line can name the file, line, field, device or topic."""

from __future__ import annotations


class GridEdgeError(Exception):
    """Base of every error GridEdge raises on purpose."""


class ConfigError(GridEdgeError):
    """A config, profile, inventory or rule file is wrong; the message names file, line and field."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}:{p}" for p in problems))


class DecodeError(GridEdgeError):
    """A device payload cannot be decoded; the message names device and field."""

"""Text the centre stores: no control characters. PostgreSQL refuses NUL in text, and the others
only ever hide things from the officer reading the text."""

from __future__ import annotations

import re
from collections.abc import Iterator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""C0 controls but tab, newline and carriage return; DEL; lone surrogates (not encodable as UTF-8)."""


def control_character(text: str) -> str | None:
    """The first forbidden character of `text` as `U+XXXX`, or None when there is none."""
    found = _CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def no_control_characters(text: str) -> str:
    """A pydantic validator: the text unchanged, or ValueError naming the character."""
    if (bad := control_character(text)) is not None:
        raise ValueError(f"contains the control character {bad}")
    return text


def strings(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value (keys too), with the dotted path where it is."""
    if isinstance(value, str):
        yield path or "(document)", value
    elif isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            yield f"{path}.{key}" if path else key, key
            yield from strings(v, f"{path}.{key}" if path else key)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}.{i}" if path else str(i))

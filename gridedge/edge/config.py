"""Typed config: one strict base model, and a YAML loader whose errors name file, line and field."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gridedge.edge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


Loc = tuple[int | str, ...]


class CrossFieldError(ValueError):
    """Problems a validator found across fields (a cross-field check), each at its own place below the
    validated section, so the error still names the line and field rather than the whole section."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc)) or '(section)'}: {m}" for loc, m in problems))


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """1-based line of the deepest key or item that `loc` reaches in the YAML node tree."""
    line = int(node.start_mark.line)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if match is None:
                continue  # a union's tag in the path (`transport.mqtt.topic`), or a key not written
            line, node = int(match[0].start_mark.line), match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = int(node.start_mark.line)
        else:
            break
    return line + 1


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's annotation may hold (through Optional, lists, dicts, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _known_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model accepts where `loc` (a path ending in an unknown key) points."""
    models = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        inner = [m for m in models if part in m.model_fields]
        if not inner:
            continue  # a union's tag in the path (e.g. `transport.mqtt`): the models stay
        models = [m for m in inner for m in _models_in(m.model_fields[str(part)].annotation)]
    return sorted({alias or name for m in models for name, f in m.model_fields.items() for alias in [f.alias]})


def format_validation_error(
    err: ValidationError, root: yaml.Node | None, model: type[BaseModel] | None = None
) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        cause = e.get("ctx", {}).get("error")
        located = cause.problems if isinstance(cause, CrossFieldError) else [((), e["msg"])]
        for sub, message in located:
            full = loc + sub
            line = _line_of(root, full) if root is not None else 1
            field = ".".join(str(p) for p in full) or "(document)"
            hint = ""
            if e["type"] == "extra_forbidden" and model is not None and full and isinstance(full[-1], str):
                close = difflib.get_close_matches(full[-1], _known_keys(model, full), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{line}: {field}: {message}{hint}")
    return problems


def parse_yaml(text: str, model: type[M], path: str) -> M:
    """Validate YAML text as `model`; every problem is reported as `path:line: field: message`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(path, [f"{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as err:
        raise ConfigError(path, format_validation_error(err, root, model)) from None


def load_yaml(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"1: cannot read: {exc.strerror}"]) from None
    return parse_yaml(text, model, str(path))

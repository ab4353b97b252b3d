"""Typed config: one strict base model, and a YAML loader whose errors name file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gridedge.edge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """1-based line of the deepest key or item that `loc` reaches in the YAML node tree."""
    line = int(node.start_mark.line)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = int(match[0].start_mark.line), match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = int(node.start_mark.line)
        else:
            break
    return line + 1


def format_validation_error(err: ValidationError, root: yaml.Node | None) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        line = _line_of(root, loc) if root is not None else 1
        field = ".".join(str(p) for p in loc) or "(document)"
        problems.append(f"{line}: {field}: {e['msg']}")
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
        raise ConfigError(path, format_validation_error(err, root)) from None


def load_yaml(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"1: cannot read: {exc.strerror}"]) from None
    return parse_yaml(text, model, str(path))

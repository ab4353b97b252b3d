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
    """1-based line of the deepest YAML node that `loc` reaches."""
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value if isinstance(value, yaml.MappingNode | yaml.SequenceNode) else key
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


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

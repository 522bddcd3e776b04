"""Reading a policy file (YAML, or JSON which is YAML) with the line of every field, so that an error says
where it is: ``policies[1].effects.timeout (line 14): must be greater than 0``. No Django.

The file is a list of rules, or a mapping with the list under ``policies``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..exceptions import InvalidInput
from .rules import parse_rules
from .schema import Rule

ROOT = "policies"


def _plain(node: yaml.Node, path: str, lines: dict[str, int]) -> Any:
    """The node as plain data, noting the (1-based) line of ``path`` and of everything under it."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(yaml.safe_load(yaml.serialize(k)))
            out[key] = _plain(v, f"{path}.{key}", lines)
            lines[f"{path}.{key}"] = k.start_mark.line + 1  # the key's line, where a person looks
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, f"{path}[{i}]", lines) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_text(text: str, name: str = "policy file") -> tuple[Any, dict[str, int]]:
    """The file's data (its rule list) and the line of each field path (``policies[0].match.skill``)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise InvalidInput(ROOT, f"{name}: nested too deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InvalidInput(ROOT, f"{name}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if node is None:
        return [], {}
    try:
        return _data(node, name)
    except (ValueError, OverflowError) as exc:  # a value YAML's own types refuse: a date 2026-13-45 (month 13)
        raise InvalidInput(ROOT, f"{name}: invalid YAML value: {exc}") from None


def _data(node: yaml.Node, name: str) -> tuple[Any, dict[str, int]]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        data = _plain(node, "_", {})
        if set(data) != {ROOT}:
            raise InvalidInput(ROOT, f"{name}: must be a list of rules, or a mapping with only '{ROOT}', "
                                     f"got keys {sorted(map(str, data))}")
        inner = next(v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == ROOT)
        return _plain(inner, ROOT, lines), lines
    return _plain(node, ROOT, lines), lines


def line_of(field: str, lines: dict[str, int]) -> int | None:
    """The line of ``field`` or of the nearest field above it that the file has."""
    while field:
        if field in lines:
            return lines[field]
        cut = max(field.rfind("."), field.rfind("["))
        field = field[:cut] if cut > 0 else ""
    return None


def parse_text(text: str, name: str = "policy file") -> list[Rule]:
    """The rules of a policy file; an error names the field and its line."""
    data, lines = load_text(text, name)
    try:
        return parse_rules(data, ROOT, source=f"file {name}", lines=lines)
    except InvalidInput as exc:
        line = line_of(exc.field, lines)
        raise InvalidInput(exc.field, f"{name} line {line}: {exc.message}" if line else exc.message) from None


def parse_file(path: str | Path) -> list[Rule]:
    if isinstance(path, bool) or not isinstance(path, str | Path):  # Path(5) raises a TypeError, not a reason
        raise InvalidInput("WEFT_POLICY_FILE", f"must be a file's path (a string), got {type(path).__name__}")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
        raise InvalidInput("WEFT_POLICY_FILE", f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_text(text, p.name)

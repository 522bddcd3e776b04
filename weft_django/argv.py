"""Command skills' argv templates: checked at registration, rendered per task, one element per value, and
never an option of the program by accident (see ``command_skill``'s ``allow_options``)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .registry import SkillDef


def check_allow_options(names: Any, template: Sequence[str], path: str) -> frozenset[str]:
    if isinstance(names, str) or not isinstance(names, Sequence | set | frozenset):
        raise InvalidInput(path, "must be a list of placeholder names")
    known = set(all_placeholders(template))
    for n in names:
        if n not in known:
            raise InvalidInput(path, f"{n!r} is not a placeholder of the argv")
    return frozenset(names)


def argv_placeholders(part: str) -> list[str]:
    return [fname for _, fname, _, _ in string.Formatter().parse(part) if fname is not None]


def all_placeholders(argv: Sequence[str]) -> list[str]:
    return [n for part in argv for n in argv_placeholders(part)]


def check_argv_template(argv: Any, path: str = "argv") -> tuple[str, ...]:
    """Refuse anything but a non-empty list of strings with plain ``{name}`` placeholders."""
    if isinstance(argv, str) or not isinstance(argv, Sequence) or not argv:
        raise InvalidInput(path, "must be a non-empty list of strings (an argv, never a shell line)")
    for i, part in enumerate(argv):
        if not isinstance(part, str):
            raise InvalidInput(f"{path}[{i}]", f"must be a string, got {type(part).__name__}")
        try:
            parsed = list(string.Formatter().parse(part))
        except ValueError as exc:
            raise InvalidInput(f"{path}[{i}]", f"malformed placeholder in {part!r}: {exc}") from None
        for _, fname, spec, conv in parsed:
            if fname is None:
                continue
            if not fname.isidentifier() or spec or conv:
                raise InvalidInput(f"{path}[{i}]", f"placeholder {{{fname}}} must be a plain {{name}}")
    if argv_placeholders(argv[0]):
        raise InvalidInput(f"{path}[0]", "the program must be fixed, not a placeholder")
    return tuple(argv)


def render_argv(definition: SkillDef, params: Mapping[str, Any]) -> list[str]:
    """Fill each placeholder with str(value); a value never splits into more than its own element.

    Nor does it become an option: a value that would start an element with ``-`` is refused (see
    ``command_skill``'s ``allow_options``).
    """
    out = []
    options_end = False  # past a literal "--": the program reads no more options
    for i, part in enumerate(definition.argv):
        values = {}
        for fname in argv_placeholders(part):
            if fname not in params:
                raise InvalidInput(f"params.{fname}", f"required by argv[{i}] of skill {definition.name!r}")
            value = params[fname]
            if isinstance(value, dict | list) or value is None:
                raise InvalidInput(f"params.{fname}", "must be a string or a number to fill an argv element")
            values[fname] = str(value)
            if "\x00" in values[fname]:  # the OS cannot pass it: exec would fail with "embedded null byte"
                raise InvalidInput(f"params.{fname}", "must not contain a NUL character")
        element = part.format(**values) if values else part.replace("{{", "{").replace("}}", "}")
        if values and i > 0 and not options_end:
            _refuse_option(definition, part, element, values)
        options_end = options_end or (not values and element == "--")
        out.append(element)
    return out


def _refuse_option(definition: SkillDef, part: str, element: str, values: Mapping[str, str]) -> None:
    """Refuse an element that starts with "-" because of a value (not because the template wrote one)."""
    parsed = list(string.Formatter().parse(part))
    if not element.startswith("-") or parsed[0][0]:  # a literal starts it: the template decides, not a value
        return
    leading = next(fname for _, fname, _, _ in parsed if fname is not None)  # it starts with a placeholder
    for literal, fname, _, _ in parsed:  # the value that brought the "-" (earlier ones may be empty)
        if literal:
            break
        if fname is not None and values[fname]:
            leading = fname
            break
    if leading not in definition.allow_options:
        raise InvalidInput(
            f"params.{leading}",
            f"must not start with '-': {definition.argv[0]} would read {element[:40]!r} as an option "
            f"(skill {definition.name!r} does not allow options in {{{leading}}})",
        )

"""Finders of skills registered late: a name no skill has yet is offered to each before it is refused (e.g. a
Django Tasks framework task, registered when its module is imported: weft_django.backends)."""

from __future__ import annotations

from collections.abc import Callable

_finders: list[Callable[[str], None]] = []


def add_finder(finder: Callable[[str], None]) -> None:
    """Call ``finder(name)`` for a name no skill has, before it is refused; it may register one (once per finder)."""
    if finder not in _finders:
        _finders.append(finder)


def find(name: str) -> None:
    for finder in _finders:
        finder(name)

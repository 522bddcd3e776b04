"""Conflicts between rules of one scope (pure, no Django): reported by validation, never settled silently.

Two rules conflict when they are of the same scope, could match the same task, and set one effect to
different values. "Could match" is judged from what each names: different skills without wildcards,
different queues, owners or label values, different equal-params, or windows on different days cannot
overlap; anything else is taken to overlap (a false alarm is better than a silent winner).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .schema import Match, Rule

WILD = set("*?[")


@dataclass(frozen=True)
class Conflict:
    first: Rule
    second: Rule
    effect: str
    values: tuple[Any, Any]

    def __str__(self) -> str:
        return (f"policies {self.first.name!r} ({self.first.where}) and {self.second.name!r} ({self.second.where}), "
                f"both of scope {self.first.scope}, can match the same task and set {self.effect} to "
                f"{self.values[0]!r} and {self.values[1]!r}: make one more specific, or make them agree")


def _globs_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    for x in a:
        for y in b:
            if x == y or (WILD & set(x) and WILD & set(y)):
                return True
            if fnmatch.fnmatchcase(y, x) or fnmatch.fnmatchcase(x, y):
                return True
    return False


def _sets_overlap(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return not a or not b or bool(set(a) & set(b))


def overlap(a: Match, b: Match) -> bool:
    """Whether some task could match both (conservative: True unless provably not)."""
    if a.skill and b.skill and not _globs_overlap(a.skill, b.skill):
        return False
    if not all(_sets_overlap(getattr(a, k), getattr(b, k)) for k in ("queue", "owner")):
        return False
    # Groups: one person can be in both, so different groups still overlap.
    labels_b = dict(b.labels)
    if any(k in labels_b and not set(v) & set(labels_b[k]) for k, v in a.labels):
        return False
    eq_b = {name: v for name, op, v in b.params if op == "eq"}
    if any(op == "eq" and name in eq_b and eq_b[name] != v for name, op, v in a.params):
        return False
    if a.window is not None and b.window is not None:
        wa, wb = a.window, b.window
        if wa.tz == wb.tz and wa.start < wa.end and wb.start < wb.end and (
                not wa.days & wb.days or wa.end <= wb.start or wb.end <= wa.start):
            return False
    return True


def conflicts(rules: Sequence[Rule]) -> list[Conflict]:
    """Every pair of rules of one scope that may match one task and disagree on an effect."""
    found = []
    ordered = sorted(rules, key=lambda r: r.name)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if a.rank != b.rank or not overlap(a.match, b.match):
                continue
            for key in sorted(set(a.effects) & set(b.effects)):
                if a.effects[key] != b.effects[key]:
                    found.append(Conflict(a, b, key, (a.effects[key], b.effects[key])))
    return found

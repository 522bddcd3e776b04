"""Lock names and whether two of them conflict (pure, no Django).

A lock is ``namespace:name`` (``db:orders``) or a bare name; the name may be a path glob
(``repo:src/app/**``): ``?`` is one character but ``/``, ``*`` any run of characters without ``/``, ``**``
any run of characters (``a/**`` also covers ``a`` itself, ``**/b`` also ``b``). Two locks conflict when
they are in the same namespace and some name matches both: equal names, or globs with a common path.
``conflicts`` answers that exactly, by walking the two patterns' automata in step (their product): no
enumeration of paths, at most (len(a)+1) x (len(b)+1) x 4 states.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["LOCK_RE", "conflicts", "namespace", "split"]

# A namespace of letters, digits and _.-, then a name of printable characters without spaces; no glob in the
# namespace (it picks what a lock can conflict with, so it must be one fixed word).
LOCK_RE = re.compile(r"^(?:[A-Za-z0-9_.-]{1,50}:)?[^\s:]{1,300}\Z")

ANY, NOT_SLASH = "any", "not /"  # the character classes besides a literal character


@dataclass(frozen=True)
class _State:
    """One state of a glob's automaton: its moves on one character, and its moves on none."""

    moves: tuple[tuple[str, str, int], ...]  # (kind: "lit" | ANY | NOT_SLASH, the literal, to state)
    skips: tuple[int, ...]


def split(lock: str) -> tuple[str, str]:
    """(namespace, name): ``"repo:src/**"`` -> ``("repo", "src/**")``; a bare name has the namespace ""."""
    ns, sep, name = lock.partition(":")
    return (ns, name) if sep else ("", lock)


def namespace(lock: str) -> str:
    return split(lock)[0]


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str) -> tuple[_State, ...]:
    """The automaton of one glob; its last state accepts."""
    states: list[tuple[list[tuple[str, str, int]], list[int]]] = []

    def new() -> int:
        states.append(([], []))
        return len(states) - 1

    cur = new()
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**", i):
            at_start = i == 0 or pattern[i - 1] == "/"
            if at_start and pattern.startswith("**/", i):  # zero or more directories
                nxt, mid = new(), new()
                states[cur][1].append(nxt)
                states[cur][0].append((ANY, "", mid))
                states[mid][0].append((ANY, "", mid))
                states[mid][0].append(("lit", "/", nxt))
                cur, i = nxt, i + 3
                continue
            nxt = new()
            states[cur][0].append((ANY, "", cur))
            states[cur][1].append(nxt)
            cur, i = nxt, i + 2
            continue
        c = pattern[i]
        if c == "/" and pattern[i + 1:] == "**":  # "a/**" also covers "a"
            nxt, end = new(), new()  # the accepting state last
            states[cur][1].append(end)
            states[cur][0].append(("lit", "/", nxt))
            states[nxt][0].append((ANY, "", nxt))
            states[nxt][1].append(end)
            cur, i = end, n
            continue
        nxt = new()
        if c == "*":
            states[cur][0].append((NOT_SLASH, "", cur))
            states[cur][1].append(nxt)
        elif c == "?":
            states[cur][0].append((NOT_SLASH, "", nxt))
        else:
            states[cur][0].append(("lit", c, nxt))
        cur, i = nxt, i + 1
    return tuple(_State(tuple(m), tuple(s)) for m, s in states)


def _meet(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether some one character is in both classes."""
    (ka, ca), (kb, cb) = a, b
    if ka == "lit" and kb == "lit":
        return ca == cb
    if ka == "lit":
        return kb == ANY or ca != "/"
    if kb == "lit":
        return ka == ANY or cb != "/"
    return True  # two classes without "/" still share every other character


def _closure(states: tuple[_State, ...], start: int) -> set[int]:
    seen, todo = {start}, [start]
    while todo:
        for s in states[todo.pop()].skips:
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return seen


def globs_meet(a: str, b: str) -> bool:
    """Whether some name matches both glob ``a`` and glob ``b``."""
    if a == b:
        return True
    sa, sb = _compile(a), _compile(b)
    ends = (len(sa) - 1, len(sb) - 1)
    start = {(x, y) for x in _closure(sa, 0) for y in _closure(sb, 0)}
    seen, todo = set(start), list(start)
    while todo:
        x, y = todo.pop()
        if (x, y) == ends:
            return True
        for ka, ca, xa in sa[x].moves:
            for kb, cb, yb in sb[y].moves:
                if _meet((ka, ca), (kb, cb)):
                    for pair in ((p, q) for p in _closure(sa, xa) for q in _closure(sb, yb)):
                        if pair not in seen:
                            seen.add(pair)
                            todo.append(pair)
    return False


def conflicts(a: str, b: str) -> bool:
    """Whether locks ``a`` and ``b`` may not be held at once: same namespace, and a name both match."""
    (na, ga), (nb, gb) = split(a), split(b)
    return na == nb and globs_meet(ga, gb)

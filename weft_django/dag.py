"""Dependency graphs: validation and cycle detection (pure, no Django)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .exceptions import InvalidInput


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one cycle as a path ``[a, b, c, a]`` (a depends on b ...), or None if acyclic."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(edges, WHITE)
    for start in edges:
        if color[start] != WHITE:
            continue
        stack: list[tuple[str, list[str]]] = [(start, list(edges.get(start, ())))]
        path = [start]
        color[start] = GREY
        while stack:
            node, todo = stack[-1]
            if not todo:
                color[node] = BLACK
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            state = color.get(nxt, BLACK)
            if state == GREY:
                return [*path[path.index(nxt):], nxt]
            if state == WHITE:
                color[nxt] = GREY
                path.append(nxt)
                stack.append((nxt, list(edges.get(nxt, ()))))
    return None


def check_graph(edges: Mapping[str, Iterable[str]], path: str = "tasks") -> None:
    """Refuse unknown keys, self-dependencies and cycles, spelling the cycle out."""
    for key, deps in edges.items():
        for dep in deps:
            if dep == key:
                raise InvalidInput(f"{path}.{key}.depends_on", f"task {key!r} depends on itself")
            if dep not in edges:
                raise InvalidInput(f"{path}.{key}.depends_on", f"unknown task key {dep!r}")
    cycle = find_cycle(edges)
    if cycle is not None:
        raise InvalidInput(f"{path}", "dependency cycle: " + " -> ".join(cycle))

"""find_cycle and check_graph on hand-made and random graphs (topological_order, here, is the oracle)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weft_django.dag import check_graph, find_cycle
from weft_django.exceptions import InvalidInput


def topological_order(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Keys so that each comes after everything it depends on (graph must be acyclic): the tests' oracle."""
    order: list[str] = []
    seen: set[str] = set()
    for start in edges:
        if start in seen:
            continue
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            stack.extend((d, False) for d in edges.get(node, ()) if d not in seen)
    return order


def test_find_cycle__spells_the_cycle_in_dependency_order() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]


def test_find_cycle__self_dependency() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_find_cycle__cycle_below_an_acyclic_prefix_starts_at_the_loop() -> None:
    assert find_cycle({"root": ["x"], "x": ["y"], "y": ["z"], "z": ["x"]}) == ["x", "y", "z", "x"]


def test_find_cycle__acyclic_graphs_have_none() -> None:
    assert find_cycle({}) is None
    assert find_cycle({"a": []}) is None
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None  # a diamond is not a cycle
    assert find_cycle({"a": ["outside"]}) is None  # unknown keys are check_graph's business


def test_check_graph__cycle_is_spelled_out() -> None:
    with pytest.raises(InvalidInput) as info:
        check_graph({"a": ["b"], "b": ["c"], "c": ["a"]})
    assert str(info.value) == "tasks: dependency cycle: a -> b -> c -> a"


def test_check_graph__self_dependency_names_the_task() -> None:
    with pytest.raises(InvalidInput) as info:
        check_graph({"a": [], "b": ["b"]})
    assert str(info.value) == "tasks.b.depends_on: task 'b' depends on itself"


def test_check_graph__unknown_key_names_it() -> None:
    with pytest.raises(InvalidInput) as info:
        check_graph({"a": [], "b": ["a", "zz"]}, "job.tasks")
    assert str(info.value) == "job.tasks.b.depends_on: unknown task key 'zz'"


def test_check_graph__acyclic_graph_passes() -> None:
    check_graph({"fetch": [], "parse": ["fetch"], "store": ["parse", "fetch"]})


def test_topological_order__dependencies_come_first() -> None:
    order = topological_order({"store": ["parse", "fetch"], "parse": ["fetch"], "fetch": []})
    assert order == ["fetch", "parse", "store"]


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """Random DAGs: node i may depend only on nodes < i, so it is acyclic; keys are shuffled."""
    n = draw(st.integers(0, 15))
    names = draw(st.permutations([f"t{i}" for i in range(n)]))
    edges = {names[i]: draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else [] for i in range(n)}
    keys = draw(st.permutations(list(edges)))
    return {k: edges[k] for k in keys}


@given(dags())
def test_topological_order__random_dags_respect_every_edge(edges: dict[str, list[str]]) -> None:
    order = topological_order(edges)
    assert sorted(order) == sorted(edges)
    position = {k: i for i, k in enumerate(order)}
    for key, deps in edges.items():
        for dep in deps:
            assert position[dep] < position[key], f"{dep} must come before {key}"


@given(dags())
def test_find_cycle__random_dags_have_none(edges: dict[str, list[str]]) -> None:
    assert find_cycle(edges) is None
    check_graph(edges)


@given(dags(), st.data())
def test_find_cycle__a_back_edge_makes_a_real_cycle(edges: dict[str, list[str]], data: st.DataObject) -> None:
    order = topological_order(edges)
    if len(order) < 2:
        return
    # an edge from an early node to a later one that (transitively) depends on it closes a loop
    later = data.draw(st.sampled_from(order[1:]))
    earlier = data.draw(st.sampled_from(order[:order.index(later)]))
    edges = {**edges, earlier: [*edges[earlier], later]}
    cycle = find_cycle(edges)
    if cycle is None:  # no path from `later` back to `earlier`: still a DAG, and that must be true
        assert _reaches(edges, later, earlier) is False
        return
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1
    for a, b in itertools.pairwise(cycle):
        assert b in edges[a], f"{a} -> {b} is not an edge"


def _reaches(edges: dict[str, list[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return False

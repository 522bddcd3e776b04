"""The layering, proven from the imports: Celery only at the edge, a pure core without Django, no cycles.

The first two import the modules in a fresh interpreter whose import system refuses the forbidden
packages (and records every attempt, so a module that catches the ImportError is caught too).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "weft_django"

# The pure core: no Django, no Celery (DESIGN: spec with options, validators and limits, states, deciders,
# dag, jobspec, outcomes, storable).
PURE = ["weft_django", "weft_django.spec", "weft_django.options", "weft_django.validators", "weft_django.limits",
        "weft_django.states", "weft_django.deciders", "weft_django.dag", "weft_django.jobspec",
        "weft_django.outcomes", "weft_django.storable", "weft_django.exceptions", "weft_django.subscribing",
        "weft_django.policy", "weft_django.policy.schema", "weft_django.policy.rules", "weft_django.policy.engine",
        "weft_django.policy.apply", "weft_django.policy.conflicts", "weft_django.layout", "weft_django.units",
        "weft_django.workspace_spec"]
# The edge: the modules that talk to Celery (and the command that runs a Celery worker). Every other
# module of weft_django, adapters included, loads without Celery: they ready tasks through handoff.py.
EDGE = {"weft_django.dispatch", "weft_django.tasks", "weft_django.management.commands.weft_worker"}

BLOCK = """
import sys

refused = []


class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            refused.append(name)
            raise ImportError(f"{name} is made unimportable by the test")
        return None


sys.meta_path.insert(0, Refuse())
"""

# The test project's settings (demo_project/settings.py, read as a file), without the two things that are
# Celery themselves: the django_celery_beat app and demo_project's package, whose __init__ builds the app.
DJANGO_SETUP = """
import os
import runpy

import dj_database_url
import django
from django.conf import settings

values = {k: v for k, v in runpy.run_path("demo_project/settings.py").items() if k.isupper()}
values["INSTALLED_APPS"] = [a for a in values["INSTALLED_APPS"]
                            if a != "django_celery_beat" and not a.startswith("demo_project")]
values["DATABASES"] = {"default": dj_database_url.parse(
    os.environ.get("WEFT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/weft"))}
settings.configure(**values)
django.setup()
"""


def import_without(blocked: set[str], modules: list[str], setup: str = "") -> dict[str, list[str]]:
    """Import ``modules`` in a new interpreter where ``blocked`` cannot be imported; what was refused, and
    which blocked packages were loaded anyway."""
    script = (f"BLOCKED = {sorted(blocked)!r}\n{BLOCK}\n{setup}\n"
              f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
              "import json\n"
              "print(json.dumps({'refused': refused, 'loaded': sorted(m for m in sys.modules "
              "if m.split('.')[0] in BLOCKED)}))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_celery_stays_at_the_edge() -> None:
    modules = [name for name in _modules() if name not in EDGE and ".migrations" not in name]
    assert {"weft_django.service", "weft_django.reports", "weft_django.lifecycle.report"} <= set(modules)
    got = import_without({"celery", "kombu", "django_celery_beat", "django_celery_results"}, modules,
                         DJANGO_SETUP)
    assert got == {"refused": [], "loaded": []}


def test_the_pure_core_imports_no_django() -> None:
    # yaml too: the job-spec parser reads no files (jobfile.py does, for weft_submit).
    got = import_without({"django", "celery", "kombu", "rest_framework", "yaml"}, PURE)
    assert got == {"refused": [], "loaded": []}


def test_the_check_sees_a_forbidden_import() -> None:
    """The two tests above can fail: the sending module does import Celery, the models Django."""
    sends = "try:\n    import weft_django.dispatch\nexcept ImportError:\n    pass\n"
    assert import_without({"celery"}, [], DJANGO_SETUP + sends)["refused"] == ["celery"]
    models = "try:\n    import weft_django.models\nexcept ImportError:\n    pass\n"
    assert import_without({"django"}, [], models)["refused"][:1] == ["django"]


# ---- No import cycles ----


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at the top and inside functions (a lazy import is still a dependency),
    except under ``if TYPE_CHECKING:``: those never run, and annotations may name each other's types."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """Module -> the weft_django modules it imports. A package's ``__init__`` that Python runs before its
    submodules is not an edge (that would make every package a cycle with its own modules); an import
    that names the package (``from .. import engine``) is an edge to the module it names."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
                continue
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle found by a depth-first walk, as the path that closes it."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt):], node, nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                walk(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [])
    return found


def test_weft_django_has_no_import_cycles() -> None:
    graph = import_graph()
    assert "weft_django.dispatch" in graph["weft_django.handoff"]  # lazy imports are edges too
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]

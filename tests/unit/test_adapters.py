"""One door for every adapter: the admin, the dashboard, the HTTP API and the commands reach weft through
``service`` (the Python API) and ``reports`` (the reads) only, read from their imports.

An adapter that queried models for its own reads, or called the lifecycle (lifecycle/, transitions,
sweep, registry, access) itself, would be a second way in, with its own
rules; this test names the module and the import that does it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "weft_django"

# What every adapter may import of weft_django: the two doors, and the plain vocabulary they speak (options:
# the declaration of the task options, from which the serializer's fields and weft_run's options are made;
# units: how a number reads, 203 MB or "killed by SIGKILL", pure functions of a value).
DOORS = {"weft_django.service", "weft_django.reports", "weft_django.exceptions", "weft_django.states",
         "weft_django.conf", "weft_django.options", "weft_django.units"}

# Model classes, only where a framework needs the class itself (an admin's registration or inline).
MODELS: dict[str, set[str]] = {
    "weft_django/admin/jobs.py": {"Job", "Task"},
    "weft_django/admin/tasks.py": {"Attempt", "Decision", "Task"},
    "weft_django/admin/others.py": {"Iteration", "Schedule", "Skill", "Subscription", "Worker"},
    "weft_django/admin/agents.py": {"Agent"},
    "weft_django/governance_admin.py": {"AuditEntry", "Policy", "PolicyDecision"},
}

# Beyond the doors, by module: the adapter's own package, and what one command exists to do.
EXTRA: dict[str, set[str]] = {
    "weft_django/urls.py": {"weft_django.views"},
    "weft_django/admin/__init__.py": {"weft_django.governance_admin"},  # the governance admin, in its own module
    "weft_django/governance_admin.py": {"weft_django.admin.base"},  # and what every weft admin shares
    "weft_django/management/cli.py": {"weft_django.management.arguments"},  # --user's type, as the commands'
    "weft_django/management/commands/weft_submit.py": {"weft_django.jobfile"},  # it reads a file
    # An agent outside Celery: an HTTP client of the API (not a door: it talks to another process), its loop and
    # the checks of what it is given (the API's own, the pure routing rule's).
    "weft_django/management/commands/weft_agent.py": {"weft_django.agent", "weft_django.agent_loop",
                                                       "weft_django.agent_bodies", "weft_django.capabilities"},
    "weft_django/management/commands/weft_template.py": {"weft_django.jobfile"},  # so does create
    # It runs Celery (the edge), and checks --queues by the rule a task's queue follows.
    # And with --capabilities, the routed queues its labels cover (the pure routing rule).
    "weft_django/management/commands/weft_worker.py": {"weft_django.dispatch", "weft_django.spec",
                                                        "weft_django.capabilities"},
    # Django's Tasks framework's backend registers a @task function as a skill (as @skill does), finds one by
    # name for a worker, relays weft's task_finished, and checks its options as a job spec (the pure core).
    "weft_django/backends/skills.py": {"weft_django.registry"},
    "weft_django/backends/hook.py": {"weft_django.finders", "weft_django.signals"},
    "weft_django/backends/options.py": {"weft_django.jobspec"},
}


def adapters() -> list[Path]:
    """Every adapter module: the admin, the dashboard, the HTTP API but its serializers (DRF's own
    ModelSerializers need the models), the commands and their shared ``cli``."""
    found = [PACKAGE / "views.py", PACKAGE / "urls.py", PACKAGE / "metrics.py", PACKAGE / "governance_admin.py",
             PACKAGE / "management" / "cli.py", PACKAGE / "management" / "progress.py"]
    found += sorted((PACKAGE / "admin").glob("*.py"))
    found += sorted(p for p in (PACKAGE / "api").glob("*.py") if p.name != "serializers.py")
    found += sorted((PACKAGE / "management" / "commands").glob("*.py"))
    found += sorted((PACKAGE / "backends").glob("*.py"))  # the Tasks framework's backend
    return found


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at the top and inside functions, except under ``if TYPE_CHECKING:``
    (those never run: an annotation may name a model without reading one)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def imported(rel: str, source: str) -> Iterator[tuple[str, str, int]]:
    """``(module, name, line)`` for each weft_django import of ``source`` (the file ``rel``): ``from .. import
    service`` is ``("weft_django.service", "", n)``, ``from ..models import Job`` is
    ``("weft_django.models", "Job", n)``."""
    package = rel.removesuffix(".py").split("/")[:-1]
    for node in sorted(_imports(ast.parse(source)), key=lambda n: n.lineno):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "weft_django":
                    yield alias.name, "", node.lineno
            continue
        if node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if base.split(".")[0] != "weft_django":
            continue
        for alias in node.names:
            # ``from .. import service`` names a module; ``from ..models import Job`` a name in one.
            if _is_module(f"{base}.{alias.name}"):
                yield f"{base}.{alias.name}", "", node.lineno
            else:
                yield base, alias.name, node.lineno


def refused(rel: str, source: str) -> list[str]:
    """The imports of ``source`` (the file ``rel``) that go round the doors, as ``file:line: module (name)``."""
    own = rel.rpartition("/")[0].replace("/", ".")
    allowed = DOORS | EXTRA.get(rel, set())
    if own == "weft_django.admin":  # the admin's own modules (each page family imports what they share)
        allowed |= {f"{own}.{p.stem}" for p in (PACKAGE / "admin").glob("*.py")}
    for package in ("api", "backends"):  # a package's own modules (the API's urls import its views, ...)
        if own == f"weft_django.{package}":
            allowed |= {f"{own}.{p.stem}" for p in (PACKAGE / package).glob("*.py") if p.stem != "__init__"}
    if own == "weft_django.management.commands":
        allowed |= {"weft_django.management.cli", "weft_django.management.progress", "weft_django.management.arguments"}
    if rel == "weft_django/management/progress.py":  # the commands' progress bars use cli's JSON
        allowed.add("weft_django.management.cli")
    bad = []
    for module, name, line in imported(rel, source):
        if module in allowed or module.startswith("weft_django.reports."):
            continue
        if module == "weft_django.models" and name in MODELS.get(rel, set()):
            continue
        bad.append(f"{rel}:{line}: {module}" + (f" ({name})" if name else ""))
    return bad


def test_adapters_call_only_service_and_reports() -> None:
    found = adapters()
    assert PACKAGE / "admin" / "jobs.py" in found and PACKAGE / "api" / "views.py" in found
    assert PACKAGE / "management" / "commands" / "weft_kill.py" in found
    bad = [b for path in found for b in refused(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))]
    assert bad == []


def test_the_check_sees_an_adapter_going_round_the_doors() -> None:
    """The test above can fail: a command that reads a model, or calls the lifecycle, is named."""
    rel = "weft_django/management/commands/weft_probe.py"
    source = ("from ...models import Task\nfrom ...lifecycle import report\nfrom .. import cli\n"
              "from ... import service\n"
              "from weft_django.reports import status\nimport weft_django.sweep\n"
              "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ...models import Job\n")
    assert refused(rel, source) == [f"{rel}:1: weft_django.models (Task)", f"{rel}:2: weft_django.lifecycle.report",
                                    f"{rel}:6: weft_django.sweep"]
    assert refused("weft_django/admin/jobs.py", "from ..models import Job, Attempt, SweepRun\n") == [
        "weft_django/admin/jobs.py:1: weft_django.models (Attempt)",
        "weft_django/admin/jobs.py:1: weft_django.models (SweepRun)"]

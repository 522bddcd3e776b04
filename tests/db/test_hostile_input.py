"""Hostile values in every field of every write of the HTTP API, and in every option of every weft_* command:
the answer is a 4xx naming the field, or a one-line command error, never a 5xx or a traceback.

Schemathesis (test_api_fuzz.py) sends what the schema allows; these send what it does not: numbers past
every column, booleans, empty containers, JSON-escaped NULs and lone surrogates, "²" (a digit to
``str.isdigit``, not to ``int``), in each field in turn. Each kind once made a 500 or a traceback here.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tests.perms import member

pytestmark = pytest.mark.django_db

HOSTILE: list[Any] = ["\x00", "\ud800", 1e300, -(10**30), 10**30, True, [], {}, None, "x" * 20_000, [[[[]]]], "²"]
# Bodies that reach deep into a submission (the schema's own example of an operation is shallower).
SUBMISSIONS = [
    {"skill": "t.add", "params": {"a": 1, "b": 2}, "limits": {"memory_mb": 100}, "retry": {"max_attempts": 2},
     "timeout": 5, "priority": 1, "locks": ["db:x"], "capabilities": ["gpu"], "labels": {"a": "b"}, "name": "n",
     "idempotency_key": "k", "budget": {"max_attempts": 3, "max_cost": 1.0, "deadline": 60}},
    {"tasks": [{"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}, "depends_on": [],
                "limits": {"memory_mb": 100}, "retry": {"max_attempts": 2}, "locks": ["db:x"]}],
     "name": "n", "budget": {"max_attempts": 3}, "labels": {"a": 1}},
]


def paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``value`` (a list: its first item)."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*path, k))
    elif isinstance(value, list) and value:
        yield from paths(value[0], (*path, 0))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    value = copy.deepcopy(value)
    here = value
    for k in path[:-1]:
        here = here[k]
    here[path[-1]] = new
    return value


def example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A plain instance of a request body's schema, to put hostile values into."""
    if "$ref" in schema:
        return example(components[schema["$ref"].split("/")[-1]], components, depth + 1)
    for combined in ("oneOf", "anyOf", "allOf"):
        if combined in schema:
            return example(schema[combined][0], components, depth)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: example(v, components, depth + 1) for k, v in schema.get("properties", {}).items()
                if not v.get("readOnly") and depth < 4}
    if kind == "array":
        return [example(schema.get("items", {}), components, depth + 1)] if depth < 4 else []
    return {"integer": 1, "number": 1.0, "boolean": False}.get(str(kind), "x")


def test_api__a_hostile_value_in_any_field_of_any_write_is_never_a_server_error() -> None:
    c = APIClient()
    c.force_authenticate(member("hostile", "weft.run_skill", "weft.act_as_agent", "weft.cancel_job",
                                "weft.approve_task", "weft.view_all_jobs"))
    schema = c.get("/api/weft/schema/?format=json").json()
    components = schema["components"]["schemas"]
    failures, sent = [], 0
    for path, operations in schema["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method, op in operations.items():
            if method not in ("post", "put", "patch"):
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            bases = SUBMISSIONS if path == "/api/weft/jobs/" else [example(body, components) if body else {}]
            if path == "/api/weft/jobs/bulk/":
                bases = [[SUBMISSIONS[0]]]
            for base in bases:
                for where in list(paths(base))[1:]:
                    for value in HOSTILE:
                        raw = json.dumps(replaced(base, where, value), allow_nan=True)
                        r = getattr(c, method)(url, raw, content_type="application/json")
                        sent += 1
                        if r.status_code >= 500:
                            failures.append((method, url, where, repr(value)[:20], r.status_code))
    assert sent > 400
    assert not failures, failures


# Commands that run until stopped (a worker, an agent, a live view, the sweep's loop) are left out.
LOOPING = {"weft_worker", "weft_agent", "weft_top", "weft_sweep"}


def test_commands__a_hostile_value_in_any_option_is_a_one_line_error_never_a_traceback() -> None:
    values = ["\x00", "\udcff", "-1", "99999999999999999999999", "²", "", "x" * 5000, "1\n", "nan", "inf"]
    commands = sorted(name for name in get_commands() if name.startswith("weft_") and name not in LOOPING)
    assert len(commands) >= 15
    failures, ran = [], 0
    for name in commands:
        parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
        positional = [a for a in parser._actions if not a.option_strings]
        options = [a for a in parser._actions if a.option_strings and a.nargs != 0 and a.dest not in {
            "help", "version", "verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color",
            "skip_checks"}]
        argvs = [[v] * max(1, len(positional)) for v in values]
        argvs += [[*(["1"] * len(positional)), o.option_strings[-1], v] for o in options for v in values]
        for argv in argvs:
            command = load_command_class(get_commands()[name], name)
            try:
                ns = vars(command.create_parser("manage.py", name).parse_args(argv))
                command.execute(*ns.pop("args", ()), **{**ns, "stdout": io.StringIO(), "stderr": io.StringIO()})
            except (CommandError, SystemExit):
                pass
            except Exception as exc:  # what is looked for: anything else
                failures.append((name, [a[:12] for a in argv], type(exc).__name__, str(exc)[:80]))
            ran += 1
    assert ran > 400
    assert not failures, failures

"""``manage.py weft_skills``: list the skills registered in code; ``--sync`` mirrors them to Skill rows."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from django.core.management.base import CommandParser

from ... import reports, service
from ...conf import settings
from ...reports import SkillDef
from .. import cli


def params_summary(schema: Mapping[str, Any]) -> str:
    """``name*: string, count: integer``: each property with its type, ``*`` when required."""
    props = schema.get("properties") or {}
    if not props:
        return "(none)" if schema.get("additionalProperties") is False else "(any)"
    required = set(schema.get("required") or ())

    def kind(p: Any) -> str:
        t = p.get("type", "any") if isinstance(p, Mapping) else "any"
        return "|".join(t) if isinstance(t, list) else str(t)

    return ", ".join(f"{name}{'*' if name in required else ''}: {kind(p)}" for name, p in props.items())


def describe(d: SkillDef) -> dict[str, Any]:
    """One skill as plain data, with the queue and timeout a task of it gets when it names none."""
    return {
        "name": d.name, "version": d.version, "kind": d.kind, "target": d.target,
        "queue": d.queue or settings.DEFAULT_QUEUE, "timeout": d.timeout or settings.DEFAULT_TIMEOUT,
        "priority": d.priority if d.priority is not None else settings.DEFAULT_PRIORITY,
        "params_schema": dict(d.params_schema), "description": d.description,
    }


def render(skills: list[dict[str, Any]]) -> str:
    if not skills:
        return "no skills registered"
    return cli.table(
        ("NAME", "VERSION", "KIND", "TARGET", "QUEUE", "TIMEOUT", "PARAMS"),
        [(s["name"], s["version"], s["kind"], s["target"] if isinstance(s["target"], str) else shlex.join(s["target"]),
          s["queue"], cli.seconds(s["timeout"]), params_summary(s["params_schema"])) for s in skills],
    )


class Command(cli.WeftCommand):
    help = "List the registered skills; with --sync, create or update their Skill rows."
    json_help = 'Print JSON: a list of skills, or with --sync {"created", "updated"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true",
                            help="Upsert a Skill row per registered skill and say how many were created or updated.")

    def handle(self, *args: Any, sync: bool, json: bool, **options: Any) -> None:
        if sync:
            created, updated = service.sync_skills()
            self.show({"created": created, "updated": updated},
                      f"synced {created + updated} skills: {created} created, {updated} updated")
            return
        self.show([describe(d) for d in reports.skills()], render)

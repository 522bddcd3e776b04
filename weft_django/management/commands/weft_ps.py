"""``manage.py weft_ps``: the tasks running now, where, for how long, and how much of their lease is left."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.db.models.functions import Now
from django.utils import timezone

from ...models import Attempt, Task
from .. import cli


def running() -> list[dict[str, Any]]:
    """Running tasks, longest running first, with their open attempt (worker, pid)."""
    now = timezone.now()
    tasks = list(Task.objects.running().annotate(db_now=Now()).order_by("started_at", "pk")
                 .values("pk", "job_id", "key", "skill_name", "attempts", "worker", "started_at",
                         "lease_expires_at", "cancel_requested", "db_now"))
    pids = dict(Attempt.objects.filter(task_id__in=[t["pk"] for t in tasks], outcome="running")
                .values_list("task_id", "pid"))
    return [{
        "task": t["pk"], "job": t["job_id"], "key": t["key"], "skill": t["skill_name"], "attempt": t["attempts"],
        "worker": t["worker"], "pid": pids.get(t["pk"]),
        "running_for": round(((t["db_now"] or now) - t["started_at"]).total_seconds(), 3) if t["started_at"] else None,
        "lease_left": round((t["lease_expires_at"] - (t["db_now"] or now)).total_seconds(), 3)
        if t["lease_expires_at"] else None,
        "cancel_requested": t["cancel_requested"],
    } for t in tasks]


class Command(cli.WeftCommand):
    help = "List the tasks running now: worker, pid, attempt, how long, lease left (weft_kill TASK stops one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print a JSON list.")

    def handle(self, *args: Any, json: bool, **options: Any) -> None:
        rows = running()
        if json:
            self.write_json(rows)
        elif not rows:
            self.stdout.write("no task is running")
        else:
            self.stdout.write(cli.table(
                ("TASK", "JOB", "KEY", "SKILL", "#", "WORKER", "PID", "RUNNING", "LEASE LEFT", "CANCEL"),
                [(r["task"], r["job"], r["key"], r["skill"], r["attempt"], r["worker"] or None, r["pid"],
                  cli.seconds(r["running_for"]), cli.seconds(r["lease_left"]),
                  "requested" if r["cancel_requested"] else None) for r in rows]))

"""``manage.py weft_status ID``: a job's state, task counts and every attempt of its tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandParser

from ... import service
from ...models import Attempt
from .. import cli


def attempts(job_id: int) -> list[dict[str, Any]]:
    """The job's attempts, oldest first: which task, which try, how it ended, where, how long, and why."""
    rows = (Attempt.objects.filter(job_id=job_id).order_by("task_id", "number")
            .values("task__key", "number", "outcome", "worker", "pid", "started_at", "finished_at", "duration",
                    "exit_code", "limit_hit", "error_type", "error_message"))
    return [{
        "task": r["task__key"], "number": r["number"], "outcome": r["outcome"], "worker": r["worker"],
        "pid": r["pid"], "started_at": r["started_at"].isoformat(),
        "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None,
        "duration": r["duration"], "exit_code": r["exit_code"], "limit_hit": r["limit_hit"],
        "error": f"{r['error_type']}: {r['error_message']}" if r["error_type"] else r["error_message"],
    } for r in rows]


def report(job_id: int) -> dict[str, Any]:
    """``service.status`` plus ``attempts``."""
    return {**service.status(job_id), "attempts": attempts(job_id)}


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S %Z")


def _elapsed(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def render(r: dict[str, Any]) -> str:
    """The report for a terminal."""
    counts = ", ".join(f"{s} {n}" for s, n in r["tasks"].items())
    lines = [
        f"job {r['id']} {r['name']}: {r['status']}" + (f" ({r['stop_reason']})" if r["stop_reason"] else ""),
        f"tasks: {r['done']}/{r['total']} done ({counts})",
        f"created {_when(r['created_at'])}" + (
            f", finished after {cli.seconds(_elapsed(r['created_at'], r['finished_at']))}" if r["finished_at"] else ""),
    ]
    if r["cost"]:
        lines.append(f"cost: {r['cost']:g}")
    lines += [f"waiting: {reason}" for reason in r.get("waiting", ())]
    if r["attempts"]:
        lines += ["", cli.table(
            ("TASK", "#", "OUTCOME", "WORKER", "DURATION", "ERROR"),
            [(a["task"], a["number"], a["outcome"] or "running", a["worker"] or None, cli.seconds(a["duration"]),
              a["error"] or None) for a in r["attempts"]],
        )]
    else:
        lines += ["", "no attempts yet"]
    return "\n".join(lines)


class Command(cli.WeftCommand):
    help = "Show a job's state, its task counts and the attempts of its tasks."
    json_help = "Print one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", metavar="ID", type=cli.job_id, help="The job id (weft_run prints it).")

    def handle(self, *args: Any, job_id: int, json: bool, **options: Any) -> None:
        self.show(report(job_id), render)

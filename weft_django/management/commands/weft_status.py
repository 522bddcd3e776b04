"""``manage.py weft_status ID``: a job's state, task counts and every attempt of its tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandParser

from ... import reports, service
from .. import arguments, cli, progress


def report(job_id: int) -> dict[str, Any]:
    """``service.status`` plus the job's attempts (``reports.attempts``)."""
    return {**service.status(job_id), "attempts": reports.attempts(job_id)}


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
    if r.get("tokens_used"):
        lines.append(f"tokens: {r['tokens_used']}")
    lines += [f"waiting: {reason}" for reason in r.get("waiting", ())]
    lines += [f"loop {key}: {line}" for key, line in r.get("loops", {}).items()]
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
    json_help = ("Print one JSON object; with --watch first one JSON line per event ({\"event\": \"progress\", "
                 "\"status\", \"done\", \"total\"}, {\"event\": \"output\", ...}).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", metavar="ID", type=arguments.job_id, help="The job id (weft_run prints it).")
        parser.add_argument("--watch", action="store_true",
                            help="Follow the job until it ends: a progress bar (a line per change when not on a "
                                 "terminal) and the new output of its running attempts, then the report.")
        parser.add_argument("--timeout", type=arguments.non_negative_float, default=None, metavar="SECONDS",
                            help="With --watch: stop following after this many seconds, exit code 124 "
                                 "(default: %(default)r).")

    def handle(self, *args: Any, job_id: int, json: bool, watch: bool, timeout: float | None,
               **options: Any) -> None:
        last: dict[str, Any] = {}
        if watch:
            several = reports.status(job_id)["total"] > 1
            follower = progress.Follower(self.stdout, self.stderr, self.stdout, as_json=json, prefix=several)
            try:
                last = follower.run(reports.follow(job_id, timeout=timeout))
            except KeyboardInterrupt:
                raise cli.Error(f"stopped watching; job {job_id} goes on", returncode=cli.EXIT_INTERRUPTED) from None
        self.show(report(job_id), render)
        if last.get("event") == "timeout":
            raise cli.Error(f"job {job_id} is still {last['status']} after {timeout:g} s", returncode=cli.EXIT_TIMEOUT)

"""``manage.py weft_list``: the newest jobs, with their state and progress."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import reports
from ...exceptions import InvalidInput
from ...states import JobStatus
from .. import arguments, cli

NAME_WIDTH = REASON_WIDTH = 40  # in the table, so that one long value does not widen it; --json has them whole


def jobs(status: str | None, owner: str | None, limit: int) -> list[dict[str, Any]]:
    if status and status not in JobStatus.values:
        raise InvalidInput("--status", f"must be one of {', '.join(JobStatus.values)}, got {status!r}")
    return reports.newest_jobs(status, owner, limit)


class Command(cli.WeftCommand):
    help = "List the newest jobs: state, tasks done of total, owner, when."
    json_help = "Print a JSON list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--status", help=f"Only jobs in this state ({', '.join(JobStatus.values)}).")
        parser.add_argument("--owner", metavar="USERNAME", type=arguments.name, help="Only this user's jobs.")
        parser.add_argument("--limit", type=arguments.positive_int, default=20, help="At most this many (default 20).")

    def handle(self, *args: Any, status: str | None, owner: str | None, limit: int, json: bool,
               **options: Any) -> None:
        rows = jobs(status, owner, limit)
        if json:
            self.write_json(rows)
        elif not rows:
            self.stdout.write("no jobs")
        else:
            self.stdout.write(cli.table(
                ("ID", "NAME", "STATUS", "TASKS", "OWNER", "CREATED"),
                [(r["id"], cli.clip(r["name"], NAME_WIDTH),
                  r["status"] + (f" ({cli.clip(r['stop_reason'], REASON_WIDTH)})" if r["stop_reason"] else ""),
                  f"{r['done']}/{r['total']}", r["owner"], r["created_at"][:19].replace("T", " "))
                 for r in rows]))

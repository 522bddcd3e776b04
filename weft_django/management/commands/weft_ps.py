"""``manage.py weft_ps``: the tasks running now, where, for how long, and how much of their lease is left."""

from __future__ import annotations

from typing import Any

from ... import reports
from .. import cli


class Command(cli.WeftCommand):
    help = "List the tasks running now: worker, pid, attempt, how long, lease left (weft_kill TASK stops one)."
    json_help = "Print a JSON list."

    def handle(self, *args: Any, json: bool, **options: Any) -> None:
        rows = reports.running_tasks()
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

"""``manage.py weft_tid --pid PID``: which running task a process of this host belongs to."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import reports
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = ("Name the running task a process of this host belongs to: the attempt whose worker process it is, "
            "or whose process tree holds it (the supervisor and child of a command or isolated skill, and their "
            "children). Exit code 2 if it belongs to none, or there is no such process.")
    json_help = ('Print one JSON object: the task as weft_ps --json shows it, with "process" and "via" (the pids '
                 'from the attempt\'s process down to PID); {"process", "task": null} if none.')

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pid", required=True, type=arguments.positive_int, metavar="PID", help="The process id.")

    def handle(self, *args: Any, pid: int, **options: Any) -> None:
        found = reports.task_of_pid(pid)
        if found is None:
            if self.as_json:
                self.write_json({"process": pid, "task": None})
            raise cli.Error(f"process {pid} belongs to no running task on this host", returncode=cli.EXIT_NOT_FOUND)
        chain = " > ".join(str(p) for p in found["via"])
        self.show(found, f"task {found['task']} (job {found['job']}, {found['key']}, skill {found['skill']}, "
                         f"attempt {found['attempt']}); process {chain}")

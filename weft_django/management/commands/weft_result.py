"""``manage.py weft_result ID``: wait for a job's result and print it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from .. import cli


class Command(cli.WeftCommand):
    help = ("Print a job's result once it is final: exit code 0 if it succeeded, 1 if it did not, "
            "2 if there is no such job, 124 if it is still running after --timeout.")
    json_help = ('Print one JSON object, {"id", "status", "result"} or {"id", "status", "error"}, and '
                 '"next_after" when more tasks\' results follow.')

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", metavar="ID", type=cli.job_id, help="The job id (weft_run prints it).")
        parser.add_argument("--timeout", type=cli.non_negative_float, default=None, metavar="SECONDS",
                            help="Give up waiting after this many seconds, exit code 124 "
                                 "(default: %(default)r, wait as long as it takes).")
        parser.add_argument("--limit", type=cli.positive_int, default=cli.RESULTS_SHOWN, metavar="N",
                            help="A job of several tasks: the results of at most N of them (default: %(default)r).")
        parser.add_argument("--after", type=cli.positive_int, default=None, metavar="TASK",
                            help="...after this task id (the next_after of the previous call).")

    def handle(self, *args: Any, job_id: int, timeout: float | None, limit: int, after: int | None,
               **options: Any) -> None:
        cli.report_result(self, job_id, timeout, self.as_json, limit=limit, after=after)

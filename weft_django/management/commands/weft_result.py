"""``manage.py weft_result ID``: wait for a job's result and print it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import reports
from .. import arguments, cli, progress


class Command(cli.WeftCommand):
    help = ("Print a job's result once it is final: exit code 0 if it succeeded, 1 if it did not, "
            "2 if there is no such job, 124 if it is still running after --timeout.")
    json_help = ('Print one JSON object, {"id", "status", "result"} or {"id", "status", "error"}, and '
                 '"next_after" when more tasks\' results follow. With --stream, first one JSON line per event '
                 '({"event": "output", "key", "attempt", "stream", "text"}, {"event": "progress", ...}).')

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", metavar="ID", type=arguments.job_id, help="The job id (weft_run prints it).")
        parser.add_argument("--timeout", type=arguments.non_negative_float, default=None, metavar="SECONDS",
                            help="Give up waiting after this many seconds, exit code 124 "
                                 "(default: %(default)r, wait as long as it takes).")
        parser.add_argument("--limit", type=arguments.positive_int, default=cli.RESULTS_SHOWN, metavar="N",
                            help="A job of several tasks: the results of at most N of them (default: %(default)r).")
        parser.add_argument("--after", type=arguments.positive_int, default=None, metavar="TASK",
                            help="...after this task id (the next_after of the previous call).")
        parser.add_argument("--stream", action="store_true",
                            help="While waiting, print the new output of the job's running attempts as it comes "
                                 "(stdout to stdout, stderr to stderr; each line prefixed [key #attempt] in a job "
                                 "of several tasks), then the result.")

    def handle(self, *args: Any, job_id: int, timeout: float | None, limit: int, after: int | None, stream: bool,
               **options: Any) -> None:
        if stream:
            several = reports.status(job_id)["total"] > 1
            follower = progress.Follower(self.stdout, self.stderr, self.stderr, as_json=self.as_json, prefix=several)
            try:
                last = follower.run(reports.follow(job_id, timeout=timeout))
            except KeyboardInterrupt:
                raise cli.Error(f"stopped following; job {job_id} goes on (weft_status {job_id})",
                                returncode=cli.EXIT_INTERRUPTED) from None
            timeout = 0 if last.get("event") == "timeout" else None
        cli.report_result(self, job_id, timeout, self.as_json, limit=limit, after=after)

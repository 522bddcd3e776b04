"""``manage.py weft_pipe "skill1 k=v | skill2 | ..."``: a job whose stages run in order, each getting the
previous stage's result."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import reports, service
from ...exceptions import JobFailed, ResultTimeout
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = ("Submit a pipeline as one job: \"skill1 k=v ... | skill2 ... | ...\" (shell quoting applies; values "
            "are JSON when they parse). Stage N is the task keyed stageN; stage N+1 depends on it, runs once it "
            "succeeded and gets its result as ctx.dependencies[\"stageN\"] (its only entry), so every stage "
            "after the first must be a Python skill taking ctx (a command skill could not see its input and is "
            "refused). A failed stage fails the job and skips the rest. Prints the job id, or with --wait the "
            "last stage's result.")
    json_help = 'Print one JSON object: {"id", "status", "stages"}, or with --wait {"id", "status", "result"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pipe", metavar="PIPE", help='The stages, e.g. "t.add a=1 b=2 | t.inc | t.inc by=10".')
        parser.add_argument("--wait", action="store_true", help="Wait until the job is final; print the last "
                                                                "stage's result (exit 1 if a stage failed).")
        parser.add_argument("--timeout", type=arguments.non_negative_float, default=None, metavar="SECONDS",
                            help="With --wait: give up after this many seconds, exit code 124 (default: %(default)r).")

    def handle(self, *args: Any, pipe: str, wait: bool, timeout: float | None, **options: Any) -> None:
        job = service.submit_pipe(pipe)
        if not wait:
            self.show({"id": job.pk, "status": job.status, "stages": job.tasks_total}, str(job.pk))
            return
        try:
            done = service.wait(job.pk, timeout)
        except ResultTimeout:
            if self.as_json:
                self.write_json({"id": job.pk, "status": service.status(job.pk)["status"], "error": "timeout"})
            raise
        if done.status != "succeeded":
            error = done.stop_reason or reports.failures(job.pk)
            if self.as_json:
                self.write_json({"id": job.pk, "status": done.status, "error": error})
            raise JobFailed(job.pk, done.status, error)
        value = service.pipe_result(job.pk)
        self.show({"id": job.pk, "status": done.status, "result": value}, cli.show_value(value))

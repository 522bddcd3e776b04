"""``manage.py weft_submit --file job.yaml``: submit a job (a DAG of tasks with a budget) from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from ... import service
from ...jobfile import load_file
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = ("Submit a job described in a YAML or JSON file (tasks with keys and depends_on, budget, labels, "
            "idempotency_key). The whole file is validated first; on an error nothing is written.")
    json_help = 'Print one JSON object: {"id", "status", "tasks"}, or with --wait as weft_result --json does.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, type=arguments.path, metavar="PATH",
                            help="The job file: .json, or YAML otherwise.")
        parser.add_argument("--wait", action="store_true", help="Wait until the job is final and print its result.")
        parser.add_argument("--timeout", type=arguments.non_negative_float, default=None, metavar="SECONDS",
                            help="With --wait: give up after this many seconds, exit code 124 "
                                 "(default: %(default)r, wait as long as it takes).")

    def handle(self, *args: Any, file: Path, wait: bool, timeout: float | None, json: bool, **options: Any) -> None:
        job = service.submit_job(load_file(file))
        unsent = cli.not_sent(job)  # as weft_run: the job is saved, the sweep sends what the broker refused
        if unsent and wait:
            self.stderr.write(f"warning: {unsent}")
        if wait:
            cli.report_result(self, job.pk, timeout, json)
        elif json:
            self.write_json({"id": job.pk, "status": job.status, "tasks": job.tasks_total, **cli.delivery_fields(job)})
        else:
            self.stdout.write(str(job.pk))
        if unsent and not wait:
            raise cli.Error(unsent, returncode=cli.EXIT_NOT_SENT)

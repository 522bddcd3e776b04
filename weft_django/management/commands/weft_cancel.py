"""``manage.py weft_cancel ID``: cancel a job (or, with --task, one task)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import service
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = ("Cancel a job: pending and queued tasks at once, running ones are stopped by their worker within "
            "seconds. With --task, cancel one task (its dependents are skipped).")
    json_help = 'Print one JSON object, {"job"} (or {"task"}) and "cancelled": false if it had already ended.'

    def add_arguments(self, parser: CommandParser) -> None:
        # Which kind of id it is depends on --task, so it is checked in handle (argparse types see one value).
        parser.add_argument("id", metavar="ID", help="The job id (or task id with --task).")
        parser.add_argument("--task", action="store_true", help="ID is a task id, not a job id.")
        cli.add_user_argument(parser)

    def handle(self, *args: Any, id: str, task: bool, acting_user: str | None, **options: Any) -> None:
        pk = cli.id_argument("ID", arguments.task_id if task else arguments.job_id, id)
        by = cli.actor(acting_user)
        changed = service.cancel_task(pk, by=by, via="command") if task else service.cancel(pk, by=by, via="command")
        what = f"task {pk}" if task else f"job {pk}"
        self.show({"task" if task else "job": pk, "cancelled": changed},
                  f"{what}: cancel requested" if changed else f"{what} had already ended; nothing to do")

"""``manage.py weft_kill TASK``: stop one task. A running one is stopped by its worker within a heartbeat
(a command is killed, a Python skill interrupted); a queued or pending one is cancelled at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import reports, service
from ...exceptions import UnknownId
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = "Stop a task (weft_ps lists the running ones); its job's other tasks go on, its dependents are skipped."
    json_help = 'Print one JSON object, {"task", "cancelled", "status"} (false: it had already ended).'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_id", metavar="TASK", type=arguments.positive_int,
                            help="The task id (weft_ps shows it).")
        cli.add_user_argument(parser)

    def handle(self, *args: Any, task_id: int, acting_user: str | None, **options: Any) -> None:
        by = cli.actor(acting_user)
        if reports.task_status(task_id) is None:
            raise UnknownId(f"no task with id {task_id}")
        changed = service.cancel_task(task_id, by=by, via="command")
        now = reports.task_status(task_id)
        self.show({"task": task_id, "cancelled": changed, "status": now},
                  (f"task {task_id}: cancel requested" if now == "running" else f"task {task_id}: cancelled")
                  if changed else f"task {task_id} had already ended")

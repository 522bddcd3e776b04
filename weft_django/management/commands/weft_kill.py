"""``manage.py weft_kill TASK``: stop one task. A running one is stopped by its worker within a heartbeat
(a command is killed, a Python skill interrupted); a queued or pending one is cancelled at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import service
from ...exceptions import NotFound
from ...models import Task
from .. import cli


class Command(cli.WeftCommand):
    help = "Stop a task (weft_ps lists the running ones); its job's other tasks go on, its dependents are skipped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_id", metavar="TASK", type=cli.positive_int, help="The task id (weft_ps shows it).")

    def handle(self, *args: Any, task_id: int, **options: Any) -> None:
        if not Task.objects.filter(pk=task_id).exists():
            raise NotFound(f"no task with id {task_id}")
        if service.cancel_task(task_id):
            self.stdout.write(f"task {task_id}: cancel requested" if Task.objects.filter(
                pk=task_id, status="running").exists() else f"task {task_id}: cancelled")
        else:
            self.stdout.write(f"task {task_id} had already ended")

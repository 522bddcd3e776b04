"""``manage.py weft_approve TASK [--reject [--reason TEXT]]``: decide on a task that waits for approval."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import service
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = "Approve a task of a skill that requires approval (it runs), or --reject it (it fails without running)."
    json_help = 'Print one JSON object, {"task", "approved"} (or "rejected").'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task_id", metavar="TASK", type=arguments.positive_int, help="The task id.")
        parser.add_argument("--reject", action="store_true", help="Refuse it instead.")
        parser.add_argument("--reason", default="", type=arguments.name,
                            help="Why (recorded on the decision; with --reject).")
        parser.add_argument("--by", default="", type=arguments.name,
                            help='Who decides (recorded on the decision; default: your login, '
                                 '"ann on the command line").')
        cli.add_user_argument(parser)

    def handle(self, *args: Any, task_id: int, reject: bool, reason: str, by: str, acting_user: str | None,
               **options: Any) -> None:
        if reason and not reject:
            raise cli.Error("--reason goes with --reject", returncode=cli.EXIT_ERROR)
        if by and acting_user:
            raise cli.Error("--by and --user exclude each other (--user is recorded as who decides)",
                            returncode=cli.EXIT_ERROR)
        who = by or cli.actor(acting_user)
        done = (service.reject(task_id, reason, by=who, via="command") if reject
                else service.approve(task_id, by=who, via="command"))
        verb = "rejected" if reject else "approved"
        if self.as_json:
            self.write_json({"task": task_id, verb: done})
        if not done:
            raise cli.Error(f"task {task_id} is not waiting for approval", returncode=cli.EXIT_ERROR)
        if not self.as_json:
            self.stdout.write(f"task {task_id}: {verb}")

"""``manage.py weft_rerun ID``: submit a job again, as a new job (same tasks, dependencies, settings, budget)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import service
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = "Submit a job again as a new job; prints the new job's id. The old job is left as it ended."
    json_help = 'Print one JSON object, {"id", "status", "tasks", "rerun_of"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", metavar="ID", type=arguments.job_id, help="The job to run again.")
        cli.add_user_argument(parser)

    def handle(self, *args: Any, job_id: int, acting_user: str | None, **options: Any) -> None:
        # With --user the new job is theirs (and checked like the HTTP API); without, the old job's owner's.
        new = service.rerun(job_id, by=cli.actor(acting_user), via="command")
        self.show({"id": new.pk, "status": new.status, "tasks": new.tasks_total, "rerun_of": job_id}, str(new.pk))

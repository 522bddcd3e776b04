"""``manage.py weft_explain ID``: why a job succeeded, failed or stopped, from its decisions and attempts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import service
from .. import cli


class Command(cli.WeftCommand):
    help = "Explain a job: which task, which attempts, which limit or budget, which upstream failure."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", metavar="ID", type=cli.job_id, help="The job id.")

    def handle(self, *args: Any, id: int, **options: Any) -> None:
        self.stdout.write(service.explain(id))

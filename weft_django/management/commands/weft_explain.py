"""``manage.py weft_explain ID``: why a job succeeded, failed or stopped, from its decisions and attempts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import reports
from .. import arguments, cli

EXPLAINED = 200  # tasks per page: a job of 60,000 tasks is not one screen


class Command(cli.WeftCommand):
    help = "Explain a job: which task, which attempts, which limit or budget, which upstream failure."
    json_help = 'Print one JSON object, {"id", "explain", "next_after"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", metavar="ID", type=arguments.job_id, help="The job id.")
        parser.add_argument("--limit", type=arguments.positive_int, default=EXPLAINED, metavar="N",
                            help="The decisions and attempts of at most N tasks (default: %(default)r).")
        parser.add_argument("--after", type=arguments.positive_int, default=None, metavar="TASK",
                            help="...after this task id (the next page of a big job).")

    def handle(self, *args: Any, id: int, limit: int, after: int | None, **options: Any) -> None:
        page = reports.explain_page(id, limit=limit, after=after)
        self.show({"id": id, **page}, page["explain"] if page["next_after"] is None
                  else f"{page['explain']}\n(weft_explain {id} --after {page['next_after']})")

"""``manage.py weft_prune``: delete finished jobs older than WEFT_RETENTION allows (the sweep also does, a
batch per run)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import service
from .. import cli


class Command(cli.WeftCommand):
    help = ("Delete finished jobs older than WEFT_RETENTION says (days per final status), with their tasks, "
            "attempts, decisions and artifacts, in short transactions.")
    json_help = "Print the counts as one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, json: bool, dry_run: bool, **options: Any) -> None:
        counts = service.prune(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        if not counts:
            text = "nothing to prune: WEFT_RETENTION is not set, every job is kept"
        elif not any(counts.values()):
            text = f"{verb}: nothing (no finished job is past its retention)"
        else:
            text = f"{verb}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        self.show(counts, text)

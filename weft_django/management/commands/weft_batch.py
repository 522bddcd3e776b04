"""``manage.py weft_batch --file tasks.jsonl [--parallel N]``: one job per line, followed until all are final."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from ... import service
from .. import arguments, cli, progress


class Command(cli.WeftCommand):
    help = ("Submit one job per line of a JSON Lines file and follow them until every one is final: a line is a "
            "job spec (with tasks, as weft_submit reads) or one task ({\"skill\": ..., \"params\": ...} and "
            "weft_run's options). Every line is checked first: a bad one is reported with its line number and "
            "field, and nothing is submitted. A progress bar on a terminal, a line per job otherwise. Exit code "
            "0 if every job succeeded, 1 otherwise.")
    json_help = ('Print one JSON object at the end: {"total", "submitted", "succeeded", "refused", "unfinished", '
                 '"jobs": [{"line", "id", "status"}]}.')

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, type=arguments.path, metavar="PATH", help="The JSON Lines file.")
        parser.add_argument("--parallel", type=arguments.positive_int, default=None, metavar="N",
                            help="At most N of the jobs unfinished at a time; the next line is submitted when "
                                 "one ends (default: %(default)r, all at once).")

    def handle(self, *args: Any, file: Path, parallel: int | None, **options: Any) -> None:
        lines = service.read_batch(file)
        live = not self.as_json and progress.is_terminal(self.stdout)

        def changed(p: Any, line: Any) -> None:
            if self.as_json:
                return
            if live:
                done, running, refused = p.counts()
                self.stdout.write(f"{progress.CLEAR}{progress.bar(done, len(p.lines))}, {running} running, "
                                  f"{refused} refused", ending="")
                self.stdout.flush()
            elif line.status == "refused":
                self.stdout.write(f"line {line.number}: refused: {line.error}")
            else:
                self.stdout.write(f"line {line.number}: job {line.job} {line.status}")

        try:
            result = service.run_batch(lines, parallel=parallel, on_change=changed)
        except KeyboardInterrupt:
            raise cli.Error("stopped; the jobs already submitted go on (weft_list)",
                            returncode=cli.EXIT_INTERRUPTED) from None
        summary = result.summary()
        if live:
            self.stdout.write("")
        self.show(summary, f"{summary['succeeded']} of {summary['total']} jobs succeeded"
                  + (f", {summary['refused']} refused" if summary["refused"] else ""))
        if summary["succeeded"] != summary["total"]:
            raise cli.Error(f"{summary['total'] - summary['succeeded']} of {summary['total']} jobs did not succeed",
                            returncode=cli.EXIT_ERROR)

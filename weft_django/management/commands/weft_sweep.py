"""``manage.py weft_sweep``: run the recovery sweep once, or every few seconds with ``--loop``."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType
from typing import Any

from django.core.management.base import CommandParser

from ... import service
from ...conf import settings
from .. import arguments, cli


class Command(cli.WeftCommand):
    help = ("Recover what was lost: expired leases (lost attempts), queued tasks no worker started, jobs past "
            "their deadline, silent workers. Safe to run beside the beat schedule or another sweep.")
    json_help = "Print each run's counts as one JSON line (with --install-schedule, the schedule)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true",
                            help="Keep sweeping every --interval seconds until stopped (SIGTERM or Ctrl-C).")
        parser.add_argument("--interval", type=arguments.positive_float, default=None, metavar="SECONDS",
                            help="Seconds between runs with --loop (default: %(default)r, WEFT_SWEEP_INTERVAL).")
        parser.add_argument("--install-schedule", action="store_true",
                            help="Create or update the django-celery-beat task 'weft-sweep' (migrate does this "
                                 "too) and exit.")

    def handle(self, *args: Any, json: bool, loop: bool, interval: float | None, install_schedule: bool,
               **options: Any) -> None:
        if install_schedule:
            if not service.install_sweep_schedule():
                raise cli.Error("django_celery_beat is not in INSTALLED_APPS: there is no schedule to install")
            every = max(1, round(settings.SWEEP_INTERVAL))
            self.show({"schedule": service.SWEEP_SCHEDULE, "every": every},
                      f"periodic task {service.SWEEP_SCHEDULE!r}: every {every} s")
            return
        if not loop:
            self._show(service.sweep(), json)
            return
        stopping: list[int] = []

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        with contextlib.suppress(KeyboardInterrupt):
            service.sweep_loop(interval or settings.SWEEP_INTERVAL, stop=lambda: bool(stopping),
                               on_run=lambda result: self._show(result, json, quiet=True))

    def _show(self, result: dict[str, Any], as_json: bool, quiet: bool = False) -> None:
        if as_json:
            self.write_json(result)
        elif result or not quiet:
            self.stdout.write(", ".join(f"{k} {v}" for k, v in result.items() if k != "errors") or "nothing to do")
            for error in result.get("errors", ()):
                self.stderr.write(f"error: {error}")

"""``manage.py weft_top``: a live view of the tasks running on this host, with their CPU and memory."""

from __future__ import annotations

import os
import select
import sys
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.core.management.base import CommandParser

from ... import reports
from .. import arguments, cli

KEYS = {"c": "cpu", "m": "mem", "t": "time", "k": "task"}  # pressed while it runs: sort by that column


def render(frame: dict[str, Any]) -> str:
    head = (f"weft_top on {frame['host']}: {len(frame['tasks'])} running, sorted by {frame['sort']} "
            f"(CPU over {frame['interval']:g} s)")
    if not frame["tasks"]:
        return head + "\nno task is running on this host"
    return head + "\n" + cli.table(
        ("TASK", "JOB", "KEY", "SKILL", "#", "PID", "PROCS", "CPU%", "MEM MB", "RUNNING"),
        [(r["task"], r["job"], cli.clip(r["key"], 24), r["skill"], r["attempt"], r["pid"], r["processes"],
          f"{r['cpu_percent']:.1f}", f"{r['rss_mb']:.1f}", cli.seconds(r["running_for"])) for r in frame["tasks"]])


@contextmanager
def _keys() -> Iterator[bool]:
    """Single keys from a terminal's stdin without Enter (cbreak), restored on exit; False if not a terminal."""
    if not sys.stdin.isatty():
        yield False
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _pressed() -> str:
    key = ""
    while select.select([sys.stdin], [], [], 0)[0]:
        key = os.read(sys.stdin.fileno(), 1).decode(errors="replace")
    return key


class Command(cli.WeftCommand):
    help = ("A live view of the tasks running on this host: CPU (percent of one core, over the interval) and "
            "resident memory of each attempt's processes (its worker process and every descendant: the supervisor "
            "and child of a command or isolated skill), sampled with psutil. Sort with --sort, or on a terminal "
            "press c (CPU), m (memory), t (time), k (task); q or Ctrl-C quits. --once prints one frame.")
    json_help = ('Print each frame as one JSON object {"host", "sort", "interval", "tasks": [{"task", "job", "key", '
                 '"skill", "attempt", "pid", "processes", "cpu_percent", "rss_mb", "running_for", ...}]}.')

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Print one frame and exit.")
        parser.add_argument("--sort", choices=sorted(reports.processes.SORTS), default="cpu",
                            help="Largest first by this column; task: by id (default: %(default)r).")
        parser.add_argument("--interval", type=arguments.positive_float, default=1.0, metavar="SECONDS",
                            help="Seconds between frames, over which CPU is measured (default: %(default)r).")

    def handle(self, *args: Any, once: bool, sort: str, interval: float, **options: Any) -> None:
        live = not once and not self.as_json and self.stdout.isatty()
        with _keys() as keys:
            while True:
                frame = reports.top(interval=interval, sort=sort)
                if live:
                    self.stdout.write("\x1b[H\x1b[2J", ending="")  # top of the screen, cleared
                self.show(frame, render)
                self.stdout.flush()
                if once:
                    return
                key = _pressed() if keys else ""
                if key == "q":
                    return
                sort = KEYS.get(key, sort)

    def execute(self, *args: Any, **options: Any) -> str | None:
        with suppress(KeyboardInterrupt):  # Ctrl-C is how one leaves a live view: not an error
            return super().execute(*args, **options)
        return None

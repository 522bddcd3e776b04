"""``manage.py weft_worker``: start a Celery worker for weft's queues with the project's Celery app."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandParser

from ...capabilities import MAX_WORKER, parse_text, worker_queues
from ...conf import settings
from ...dispatch import run_celery
from ...exceptions import InvalidInput
from ...spec import QUEUE_RE
from .. import arguments, cli

POOLS = ("prefork", "threads", "solo")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def queue_list(text: str) -> list[str]:
    names = [q.strip() for q in text.split(",") if q.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one queue")
    for name in names:
        if not QUEUE_RE.match(name):
            raise argparse.ArgumentTypeError(f"invalid queue name {name!r}: use 1-100 letters, digits or _.-")
    return names


def capability_list(text: str) -> list[str]:
    try:
        return list(parse_text(text, "--capabilities", MAX_WORKER))
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def worker_argv(*, queues: list[str], concurrency: int | None, pool: str, loglevel: str, beat: bool,
                hostname: str | None) -> list[str]:
    """The ``celery worker`` argv. One message per process at a time (prefetch 1, ``-O fair``): weft tasks
    run long and unevenly, and a prefetched message would wait behind a long task while others sit idle."""
    argv = ["worker", "--queues", ",".join(queues), "--pool", pool, "--loglevel", loglevel,
            "--prefetch-multiplier", "1", "-O", "fair"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    if hostname:
        argv += ["--hostname", hostname]
    if beat:
        argv.append("--beat")
    return argv


class Command(cli.WeftCommand):
    help = "Start a Celery worker that runs weft's tasks (the project's Celery app, weft's queues)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queues", "-Q", type=queue_list, default=settings.DEFAULT_QUEUE, metavar="Q1,Q2",
                            help="Comma-separated queues to consume (default: %(default)r, WEFT_DEFAULT_QUEUE).")
        parser.add_argument("--concurrency", "-c", type=arguments.positive_int, default=None, metavar="N",
                            help="Worker processes or threads (default: %(default)r, one per CPU).")
        parser.add_argument("--pool", "-P", choices=POOLS, default="prefork",
                            help="Execution pool (default: %(default)r).")
        parser.add_argument("--loglevel", "-l", choices=LOG_LEVELS, default="info",
                            help="Log level (default: %(default)r).")
        parser.add_argument("--hostname", "-n", default=None,
                            help="Worker node name, to run several on one host (default: %(default)r, Celery's).")
        parser.add_argument("--capabilities", type=capability_list, default=[], metavar="LABEL1,LABEL2", help=(
                            "Its capability labels (at most 6): it also reads the routed queues of the tasks that "
                            "require some of them ('weft+gpu'), and gets every task they cover (docs/agents.md)."))
        parser.add_argument("--beat", "-B", action="store_true", help=(
                            "Also run the beat scheduler in this worker (it drives the sweep; one per deployment)."))

    def handle(self, *args: Any, queues: list[str], concurrency: int | None, pool: str, loglevel: str,
               hostname: str | None, beat: bool, capabilities: list[str], **options: Any) -> None:
        # With capabilities, also the routed queues of every set of them (capabilities.py).
        argv = worker_argv(queues=worker_queues(queues, capabilities), concurrency=concurrency, pool=pool,
                           loglevel=loglevel, beat=beat, hostname=hostname)
        # Not app.start/worker_main: both drop the worker's exit code, and a supervisor (systemd's
        # Restart=on-failure) must see a worker that died exit non-zero.
        code = run_celery(argv)
        if code:
            raise cli.Error(f"the Celery worker exited with status {code} (its log above says why)",
                            returncode=code)

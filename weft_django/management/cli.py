"""Shared parts of the ``weft_*`` commands: exit codes, one-line errors, argument types, JSON and table output."""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .. import reports, service
from ..exceptions import ResultTimeout, UnknownId, UnknownSkill, WeftError
from . import arguments

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_FOUND = 2
EXIT_TIMEOUT = 124  # what coreutils' timeout(1) returns, so shell scripts can treat both alike
EXIT_NOT_SENT = 75  # sysexits' EX_TEMPFAIL: the job is saved but its message did not reach the broker yet
EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)


class Error(CommandError):
    """A command failure; Django prints it as one line, ``Error: <message>``, and exits with ``returncode``."""


def exit_code(exc: WeftError) -> int:
    """The exit code a command returns for a weft error."""
    if isinstance(exc, UnknownSkill | UnknownId):
        return EXIT_NOT_FOUND
    if isinstance(exc, ResultTimeout):
        return EXIT_TIMEOUT
    return EXIT_ERROR


class _OneLineParser(CommandParser):
    """A bad argument is one line and exit code 1, not argparse's usage block and code 2 (2 means not found)."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(EXIT_ERROR, f"Error: {message}\n")
        raise Error(message, returncode=EXIT_ERROR)


class WeftCommand(BaseCommand):
    """Base of the ``weft_*`` commands: WeftError becomes a one-line error with the matching exit code.

    A command that prints sets ``json_help``: it then takes ``--json`` and prints through ``show``, which
    writes one JSON document with it (for scripts) and text for a person without.
    """

    json_help: str | None = None
    as_json = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django builds its CommandParser itself and offers no hook for the class; the subclass adds no state.
        parser.__class__ = _OneLineParser
        if self.json_help:
            parser.add_argument("--json", action="store_true", help=self.json_help)
        return parser

    def execute(self, *args: Any, **options: Any) -> str | None:
        self.as_json = bool(options.get("json"))
        try:
            return super().execute(*args, **options)
        except WeftError as exc:
            # One line, always: a skill's error message may span several (the traceback is on the attempt).
            raise Error(" ".join(str(exc).split()), returncode=exit_code(exc)) from exc

    def write_json(self, value: Any) -> None:
        self.stdout.write(to_json(value))

    def show(self, value: Any, text: str | Callable[[Any], str]) -> None:
        """Print ``value`` as JSON with --json, else ``text`` (or ``text(value)``) for a person."""
        if self.as_json:
            self.write_json(value)
        else:
            self.stdout.write(text(value) if callable(text) else text)


def id_argument(name: str, convert: Callable[[str], int], text: str) -> int:
    """``convert(text)`` in ``handle``, for an argument whose kind another one decides; fails as argparse would."""
    try:
        return convert(text)
    except argparse.ArgumentTypeError as exc:
        raise Error(f"argument {name}: {exc}", returncode=EXIT_ERROR) from None


# ---------------------------------------------------------------- output


def to_json(value: Any) -> str:
    return json.dumps(value, default=str)


def show_value(value: Any) -> str:
    """A result for humans: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else to_json(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart; ``None`` shows as ``-``, newlines as spaces."""
    cells = [list(headers)] + [["-" if v is None else " ".join(str(v).split()) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def clip(text: str, width: int) -> str:
    """``text`` on one line and at most ``width`` characters: a longer one ends in ``...``, so that one long
    value (a stop reason, an error) does not stretch its column for every row."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:max(width - 3, 0)].rstrip() + "..."


def seconds(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value * 1000:.0f} ms" if value < 1 else f"{round(value, 2):g} s"


RESULTS_SHOWN = 1000  # top-level tasks whose results a command prints at once (--after ID for the next ones)


def report_result(command: WeftCommand, job: int, timeout: float | None, as_json: bool, *,
                  limit: int = RESULTS_SHOWN, after: int | None = None) -> None:
    """Wait for a job's result and print it; a failed job exits 1, one still running after ``timeout`` 124.

    With ``as_json`` stdout gets one object, ``{"id", "status", "result"}`` or ``{"id", "status", "error"}``,
    even when the command fails, so a script can read the outcome and the exit code alike. A job of more
    than ``limit`` top-level tasks gets the results of ``limit`` of them (after task id ``after``), and
    ``next_after``: the ``after`` of the next ones (in text, a note on stderr).
    """
    try:
        value, next_after = service.result_page(job, timeout=timeout, limit=limit, after=after)
    except KeyboardInterrupt:
        # Stopping the wait is not cancelling the job: say so, and where to look, instead of a traceback.
        raise Error(f"stopped waiting; job {job} goes on (weft_status {job}, weft_result {job})",
                    returncode=EXIT_INTERRUPTED) from None
    except service.JobFailed as exc:
        if as_json:
            command.write_json({"id": exc.job_id, "status": exc.status, "error": exc.error})
        raise
    except ResultTimeout:
        if as_json:
            command.write_json({"id": job, "status": service.status(job)["status"], "error": "timeout"})
        raise
    more = {} if next_after is None else {"next_after": next_after}
    if as_json:
        command.write_json({"id": job, "status": "succeeded", "result": value, **more})
        return
    command.stdout.write(show_value(value))
    if more:
        command.stderr.write(f"results of {limit} tasks shown; the next ones: weft_result {job} --after {next_after}")


def add_user_argument(parser: CommandParser) -> None:
    """``--user USERNAME``: act as that user, under the rules of the HTTP API (weft_django.access)."""
    parser.add_argument("--user", dest="acting_user", metavar="USERNAME", default=None, type=arguments.name,
                        help="Act as this user: their permissions apply as over HTTP (exit 1 if refused, 2 for a "
                             "job they may not see) and the decision names them. Without it the command is a "
                             "trusted operator's, named by their login on this machine.")


def actor(username: str | None) -> Any:
    """Who acts: the user named by ``--user``, else ``operator()`` (a name the service only records)."""
    return operator() if username is None else acting_user(username)


def acting_user(username: str | None) -> Any:
    """The user named by ``--user`` (None without it)."""
    if username is None:
        return None
    user = reports.user_named(username)
    if user is None:
        raise Error(f"--user: no user named {username!r}", returncode=EXIT_ERROR)
    return user


def operator() -> str:
    """Who acts without ``--user``, as decisions name them: ``"ann on the command line"`` (the login of the
    process; shell access is database access, so the commands trust it and only record it)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry (a container's arbitrary uid)
        login = "an operator"
    return f"{login} on the command line"


def not_sent(job: Any) -> str:
    """What to tell the user when a message of the just-submitted ``job`` did not reach the broker ("" if
    all did): the job is saved, and the sweep sends it."""
    delivery = getattr(job, "delivery", None)
    if delivery is None or not delivery.failed:
        return ""
    what = "its task was" if delivery.total == 1 else f"{delivery.total - (delivery.sent or 0)} of its tasks were"
    return (f"job {job.pk} is saved, but {what} not sent to the broker ({delivery.error}); the sweep sends it "
            f"again within {delivery.resend_within:g} s of the submission once the broker answers "
            "(WEFT_REDISPATCH_AFTER + WEFT_SWEEP_INTERVAL, with beat running)")


def delivery_fields(job: Any) -> dict[str, Any]:
    """``sent``, ``error`` and ``resend_within`` for --json, when a message of ``job`` was not sent."""
    if not not_sent(job):
        return {}
    return {"sent": False, "error": job.delivery.error, "resend_within": job.delivery.resend_within}

"""``manage.py weft_run SKILL``: submit one task as a job, optionally wait for its result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandParser

from ... import options, service
from ...exceptions import InvalidInput
from ...options import Form, Option
from .. import arguments, cli

# The command-line type of each form of task option (options.py declares which form, flag and help).
TYPES: dict[Form, Any] = {Form.LIMITS: arguments.limit, Form.NUMBER: arguments.positive_float, Form.RANK: int,
                          Form.TEXT: str, Form.OBJECT: arguments.json_object, Form.LIST: str, Form.LABELS: str}


def collect(pairs: Sequence[tuple[str, Any]], field: str) -> dict[str, Any]:
    """``--param``/``--limit`` pairs as a dict; a key given twice is an error rather than a silent overwrite."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidInput(f"{field}.{key}", "given more than once")
        out[key] = value
    return out


class Command(cli.WeftCommand):
    help = "Submit one task of SKILL as a job and print its id (or, with --wait, its result)."
    json_help = 'Print one JSON object: {"id", "status"}, or with --wait as weft_result --json does.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("skill", metavar="SKILL", help="Name of a registered skill (see weft_skills).")
        given = parser.add_mutually_exclusive_group()
        given.add_argument("--param", "-p", dest="param", action="append", type=arguments.param, default=[],
                           metavar="KEY=VALUE",
                           help="One parameter; VALUE is read as JSON when it parses (3, true, [1,2]), else as "
                                "text. Repeatable.")
        given.add_argument("--params", type=arguments.json_object, default=None, metavar="JSON",
                           help="All parameters as one JSON object (default: %(default)r).")
        parser.add_argument("--wait", action="store_true", help="Wait for the result and print it.")
        parser.add_argument("--timeout", type=arguments.non_negative_float, default=None, metavar="SECONDS",
                            help="With --wait: give up waiting after this many seconds, exit code 124 "
                                 "(default: %(default)r, wait as long as it takes).")
        task = parser.add_argument_group("task options")
        for opt in options.OPTIONS:
            if opt.cli is None:
                continue
            extra: dict[str, Any] = ({"action": "append", "default": []} if opt.cli.repeat or opt.cli.append
                                    else {"default": None})
            task.add_argument(opt.cli.flag, type=TYPES[opt.form], metavar=opt.cli.metavar, help=opt.cli.help,
                              **extra)
        pin = options.VERSION.cli
        task.add_argument(pin.flag, dest=options.VERSION.name, default=None, metavar=pin.metavar, help=pin.help)
        task.add_argument("--idempotency-key", default=None, metavar="KEY",
                          help="Submitting again with the same key returns the same job (default: %(default)r).")

    def handle(
        self, *args: Any, skill: str, param: list[tuple[str, Any]], params: dict[str, Any] | None, wait: bool,
        timeout: float | None, json: bool, idempotency_key: str | None, version: str | None, **given: Any,
    ) -> None:
        job = service.submit(
            skill, params if params is not None else collect(param, "params"), idempotency_key=idempotency_key,
            version=version,
            **{o.name: task_option(o, given[o.cli.dest]) for o in options.OPTIONS if o.cli is not None},
        )
        unsent = cli.not_sent(job)
        if unsent and wait:  # say so now; the wait may still end well, once the sweep has sent it
            self.stderr.write(f"warning: {unsent}")
        if wait:
            cli.report_result(self, job.pk, timeout, json)
        elif json:
            self.write_json({"id": job.pk, "status": job.status, **cli.delivery_fields(job)})
        else:
            self.stdout.write(str(job.pk))
        if unsent and not wait:
            raise cli.Error(unsent, returncode=cli.EXIT_NOT_SENT)


def task_option(opt: Option, value: Any) -> Any:
    """A task option as the command line gave it, as ``service.submit`` takes it (None: not given)."""
    if opt.cli is not None and opt.cli.repeat:
        return collect(value, opt.name) or None
    if opt.cli is not None and opt.cli.append:
        return value or None
    return value

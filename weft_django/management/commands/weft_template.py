"""``manage.py weft_template create|list|show|run|delete``: saved, parameterised job specs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from ... import service
from ...jobfile import load_file
from .. import arguments, cli

PLACEHOLDERS = ("Strings of the spec may hold {name} placeholders: a string that is exactly one placeholder "
                "takes the parameter's value with its type (--param n=3 is the number 3, --param s=abc the "
                "text), one inside a longer string is replaced by the value's text; {{ and }} are braces.")


class Command(cli.WeftCommand):
    help = ("Saved, parameterised job specs. create NAME --file SPEC: save a job spec (YAML or JSON, as "
            "weft_submit reads) checked as a submission would be, so one that could never run is refused "
            "naming the field. run NAME --param k=v: fill its placeholders and submit it. " + PLACEHOLDERS)
    json_help = "Print JSON (the template, the list, or the submitted job)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="create|list|show|run|delete")
        json_flag: dict[str, Any] = {"action": "store_true", "default": argparse.SUPPRESS, "help": "Print JSON."}

        create = sub.add_parser("create", help="Save a template (checked first; nothing saved on error).")
        create.add_argument("name", metavar="NAME", help="1-100 letters, digits or _ . : -")
        create.add_argument("--file", required=True, type=arguments.path, metavar="PATH",
                            help="The job spec: .json or YAML.")
        create.add_argument("--description", default="", help="What it is for (default: none).")
        create.add_argument("--param", "-p", dest="params", action="append", type=arguments.param, default=[],
                            metavar="KEY=VALUE", help="A default value of a placeholder (repeatable). The spec "
                            "is checked filled with these; a placeholder without one stands as its own text, so "
                            "a placeholder in a number field needs a default.")
        create.add_argument("--replace", action="store_true", help="Overwrite a template of that name.")
        create.add_argument("--json", **json_flag)

        sub.add_parser("list", help="The saved templates.").add_argument("--json", **json_flag)

        show = sub.add_parser("show", help="A template's spec, defaults and placeholders.")
        show.add_argument("name", metavar="NAME")
        show.add_argument("--json", **json_flag)

        run = sub.add_parser("run", help="Fill the placeholders and submit the job (labelled template: NAME).")
        run.add_argument("name", metavar="NAME")
        run.add_argument("--param", "-p", dest="params", action="append", type=arguments.param, default=[],
                         metavar="KEY=VALUE", help="A placeholder's value, JSON when it parses (repeatable).")
        run.add_argument("--wait", action="store_true", help="Wait until the job is final and print its result.")
        run.add_argument("--timeout", type=arguments.non_negative_float, default=None, metavar="SECONDS",
                         help="With --wait: give up after this many seconds, exit code 124 (default: %(default)r).")
        run.add_argument("--json", **json_flag)

        delete = sub.add_parser("delete", help="Delete a template (exit code 2 if there is none).")
        delete.add_argument("name", metavar="NAME")
        delete.add_argument("--json", **json_flag)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        self.as_json = bool(options.get("json"))
        getattr(self, f"do_{action}")(**options)

    def do_create(self, *, name: str, file: Path, description: str, params: list[tuple[str, Any]], replace: bool,
                  **_: Any) -> None:
        t = service.create_template(name, load_file(file), description=description, defaults=dict(params),
                                    replace=replace)
        self.show(t, f"template {t['name']} saved" + (f" (placeholders: {', '.join(t['placeholders'])})"
                                                      if t["placeholders"] else ""))

    def do_list(self, **_: Any) -> None:
        rows = service.list_templates()
        self.show(rows, lambda rs: cli.table(
            ("NAME", "TASKS", "PLACEHOLDERS", "DESCRIPTION"),
            [(r["name"], r["tasks"], ", ".join(r["placeholders"]) or None, cli.clip(r["description"], 60) or None)
             for r in rs]) if rs else "no template saved")

    def do_show(self, *, name: str, **_: Any) -> None:
        t = service.show_template(name)
        lines = [f"template {t['name']}" + (f": {t['description']}" if t["description"] else "")]
        lines += [f"placeholder {k} (at {where})" + (f", default {cli.show_value(t['defaults'][k])}"
                                                     if k in t["defaults"] else "")
                  for k, where in t["placeholders"].items()]
        lines.append(cli.to_json(t["spec"]))
        self.show(t, "\n".join(lines))

    def do_run(self, *, name: str, params: list[tuple[str, Any]], wait: bool, timeout: float | None,
               **_: Any) -> None:
        job = service.run_template(name, dict(params))
        if wait:
            cli.report_result(self, job.pk, timeout, self.as_json)
        else:
            self.show({"id": job.pk, "status": job.status, "tasks": job.tasks_total}, str(job.pk))

    def do_delete(self, *, name: str, **_: Any) -> None:
        if not service.delete_template(name):
            raise cli.Error(f"no template named {name!r}", returncode=cli.EXIT_NOT_FOUND)
        self.show({"name": name, "deleted": True}, f"template {name} deleted")

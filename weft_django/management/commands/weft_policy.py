"""``manage.py weft_policy validate [FILE]`` and ``manage.py weft_policy explain --skill S [--owner U]
[--param k=v]``: check policy rules, and see what they would do to a submission (a dry run)."""

from __future__ import annotations

import argparse
import json as _json
from typing import Any

from django.core.management.base import CommandParser

from ... import reports
from .. import arguments, cli


def render_validation(report: dict[str, Any]) -> str:
    lines = [f"{report['rules']} rule(s) read"]
    lines += [f"error: {e}" for e in report["errors"]]
    lines += [f"conflict: {c}" for c in report["conflicts"]]
    if not report["errors"] and not report["conflicts"]:
        lines.append("no errors, no conflicts")
    return "\n".join(lines)


def render_explain(report: dict[str, Any]) -> str:
    lines = [f"skill {report['skill']}, owner {report['owner'] or '(none)'}, queue {report['queue']}"]
    if report["denied"]:
        lines.append(f"DENIED by {report['denied']['rule']}: {report['denied']['reason']}")
    lines += [f"matches {m['rule']} (scope {m['scope']}, {m['source']})" for m in report["matched"]] or [
        "no rule matches"]
    for key, e in report["effects"].items():
        conflict = f"; conflicts with {', '.join(e['conflict_with'])}" if "conflict_with" in e else ""
        lines.append(f"  {key} = {_json.dumps(e['value'])} (by {e['rule']}, scope {e['scope']}{conflict})")
    lines += [f"would change {c['field']}: {_json.dumps(c['from'])} -> {_json.dumps(c['to'])} (by {c['rule']})"
              for c in report["changes"]]
    if report["requires_approval"]:
        lines.append("its tasks wait for approval")
    if report["checked_at_claim"]:
        lines.append("a rule with a time window is checked again when a worker claims it")
    return "\n".join(lines)


class Command(cli.WeftCommand):
    help = "Check policy rules (validate) or show what they would do to a submission (explain, a dry run)."
    json_help = "Print the report as one JSON object."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True, parser_class=CommandParser)
        v = sub.add_parser("validate", help="Check the rules in force (or FILE): schema errors with line "
                                            "numbers, and conflicts between rules of one scope.")
        v.add_argument("file", nargs="?", default=None, help="A policy file to check instead (YAML).")
        e = sub.add_parser("explain", help="What the rules would do to this submission (nothing is submitted).")
        e.add_argument("--skill", required=True, help="The skill's name.")
        e.add_argument("--owner", default=None, type=arguments.name, help="The submitting user's login.")
        e.add_argument("--queue", default=None, help="The queue the submission names.")
        e.add_argument("--param", action="append", default=[], type=arguments.param, metavar="K=V",
                       help="A parameter (V read as JSON when it parses, else as text); repeatable.")
        e.add_argument("--label", action="append", default=[], type=arguments.key_value, metavar="K=V",
                       help="A label of the job; repeatable.")
        for verb in (v, e):  # --json after the verb too (argparse hands the rest of the line to the verb)
            verb.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=self.json_help)

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "validate":
            report = reports.policy_validate(options["file"])
            self.show(report, render_validation)
            if report["errors"] or report["conflicts"]:
                raise cli.Error("the policy rules have problems (above)", returncode=cli.EXIT_ERROR)
            return
        owner = cli.acting_user(options["owner"]) if options["owner"] else None
        self.show(reports.policy_explain(options["skill"], owner, dict(options["param"]), queue=options["queue"],
                                         labels=dict(options["label"])), render_explain)

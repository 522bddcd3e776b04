"""``manage.py weft_agent --url URL --name NAME --capabilities gpu -- ARGV...``: an agent outside Celery.

It registers over the HTTP claim API, then claims each task it can do, runs the argv template for it (filled from
the task's params, never through a shell), renews the lease while the command runs, kills the command when the
lease is lost or a cancel is requested, and reports the outcome (docs/agents.md). It needs no database or broker
of its own: only the API's URL and a user with ``weft.act_as_agent``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from django.core.management.base import CommandParser

from ...agent import AgentClient
from ...agent_bodies import agent_name
from ...agent_loop import serve
from ...capabilities import MAX_AGENT, parse_text
from ...exceptions import InvalidInput
from .. import arguments, cli


def name_arg(text: str) -> str:
    try:
        return agent_name(text)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def labels_arg(text: str) -> list[str]:
    try:
        return list(parse_text(text, "--capabilities", MAX_AGENT))
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


class Command(cli.WeftCommand):
    help = ("Run tasks outside Celery: claim them over weft's HTTP API, run a command for each, report the outcome. "
            "Give the command after '--' ({param} placeholders; default: the skill's own argv).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="The API's URL, e.g. https://ops.example.com/api/weft/.")
        parser.add_argument("--name", type=name_arg, default=os.uname().nodename.split(".")[0] or "agent",
                            help="The agent's unique name (default: %(default)r, this host's).")
        parser.add_argument("--capabilities", type=labels_arg, default=[], metavar="LABEL1,LABEL2",
                            help="Its capability labels: it claims tasks whose required ones these cover.")
        parser.add_argument("--skill", action="append", default=None, dest="skills", metavar="SKILL",
                            help="Claim only tasks of this skill (repeatable; default: any command skill).")
        parser.add_argument("--user", default=os.environ.get("WEFT_AGENT_USER"),
                            help="HTTP Basic user (default: $WEFT_AGENT_USER); the password is read from "
                                 "$WEFT_AGENT_PASSWORD, never from the command line.")
        parser.add_argument("--token", default=None,
                            help="A DRF token instead (default: $WEFT_AGENT_TOKEN; the environment keeps it out "
                                 "of the process list).")
        parser.add_argument("--max-tasks", type=arguments.positive_int, default=None, metavar="N",
                            help="Exit after N tasks (default: %(default)r, run until stopped).")
        parser.add_argument("--poll", type=arguments.positive_float, default=2.0, metavar="SECONDS",
                            help="How long to wait before asking again when there is nothing to do "
                                 "(default: %(default)r).")
        parser.add_argument("argv", nargs="*", metavar="ARGV", help="The command for each task, after '--'.")

    def handle(self, *args: Any, url: str, name: str, capabilities: list[str], skills: list[str] | None,
               user: str | None, token: str | None, max_tasks: int | None, poll: float, argv: list[str],
               **options: Any) -> None:
        token = token or os.environ.get("WEFT_AGENT_TOKEN")
        if not token and not user:
            raise cli.Error("give --user (with $WEFT_AGENT_PASSWORD) or $WEFT_AGENT_TOKEN")
        client = AgentClient(url, user=user, password=os.environ.get("WEFT_AGENT_PASSWORD"), token=token)
        agent = client.register(name, capabilities)
        self.stdout.write(f"agent {agent['name']} (id {agent['id']}) registered with capabilities "
                          f"{', '.join(agent['capabilities']) or '(none)'}")
        try:
            done = serve(client, argv or None, skills=skills, max_tasks=max_tasks, poll=poll,
                         say=self.stdout.write)
        except KeyboardInterrupt:
            raise cli.Error("interrupted", returncode=cli.EXIT_INTERRUPTED) from None
        self.stdout.write(f"agent {agent['name']}: {done} task(s) done")

"""Example skills: a Python skill, a flaky one that fails before it succeeds, command skills, and (agent_skills.py)
loops that ask a model and a Plan -> Spec -> Phase cascade."""

from __future__ import annotations

import sys
from typing import Any

from weft_django import command_skill, skill

from . import agent_skills  # noqa: F401  (registers the loop skills)


@skill(name="demo.greet", params={
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1}},
    "required": ["name"],
    "additionalProperties": False,
})
def greet(name: str) -> str:
    """Say hello."""
    return f"Hello, {name}!"


@skill(name="demo.flaky", retry={"max_attempts": 5, "backoff": 0.5}, params={
    "type": "object",
    "properties": {"succeed_on": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
})
def flaky(ctx: Any, succeed_on: int = 3) -> dict[str, int]:
    """Fail until attempt ``succeed_on``, to show retries and their decisions."""
    if ctx.attempt < succeed_on:
        raise ConnectionError(f"simulated outage on attempt {ctx.attempt}")
    return {"succeeded_on_attempt": ctx.attempt}


command_skill("demo.word_count", [sys.executable, "-c",
                                  "import sys; t = sys.argv[1]; print(len(t.split()))", "{text}"],
              params={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
              timeout=30, description="Count the words of a text in a subprocess.")
command_skill("demo.sleep", ["sleep", "{seconds}"], timeout=60,
              params={"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0}},
                      "required": ["seconds"]},
              description="Sleep in a subprocess (to watch, cancel or time out).")

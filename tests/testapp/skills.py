"""Skills the tests run on real workers."""

from __future__ import annotations

import time
from typing import Any

from weft_django import NonRetryable, Outcome, command_skill, skill


@skill(name="t.add", params={"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                             "required": ["a", "b"]})
def add(a: float, b: float) -> float:
    return a + b


@skill(name="t.noop")
def noop() -> None:
    return None


@skill(name="t.flaky", retry={"max_attempts": 5, "backoff": 0.05})
def flaky(ctx: Any, succeed_on: int = 3) -> int:
    if ctx.attempt < succeed_on:
        raise ConnectionError(f"attempt {ctx.attempt} failed on purpose")
    return ctx.attempt


@skill(name="t.always_fails", retry={"max_attempts": 4, "backoff": 0.05})
def always_fails() -> None:
    raise ValueError("this skill always fails")


@skill(name="t.fatal")
def fatal() -> None:
    raise NonRetryable("no point retrying")


@skill(name="t.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@skill(name="t.blocked")
def blocked() -> Outcome:
    return Outcome.blocked("waiting for approval")


@skill(name="t.unserialisable")
def unserialisable() -> object:
    return object()


command_skill("t.echo", ["echo", "{text}"])
command_skill("t.sleep_cmd", ["sleep", "{seconds}"])
command_skill("t.exit", ["sh", "-c", "exit $0", "{code}"], retry={"max_attempts": 1})

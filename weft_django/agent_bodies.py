"""The bodies of the HTTP claim API, read and checked (pure, no Django): each refusal names the field and why.

Register ``{"name", "capabilities"}``; claim ``{"skills"?, "pid"?}``; heartbeat ``{"task", "token", "stdout"?,
"stderr"?}``; report ``{"task", "token", "outcome", "result"?, "error"?, "error_type"?, "retryable"?,
"exit_code"?, "stdout"?, "stderr"?, "duration"?, "cost"?}``. Nothing else is accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import capabilities
from .exceptions import InvalidInput
from .outcomes import Observation, Outcome
from .validators import MAX_INT, check_json, check_text, unknown_field

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")  # never "@" or ":": not a Celery worker's name@host
ERROR_TYPE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}\Z")
MAX_TASK_ID = 2**63 - 1
MAX_PID = 4_194_304
MAX_OUTPUT = 1_000_000  # characters of stdout or stderr a report may carry (the attempt keeps the tail)
MAX_ERROR = 10_000
MAX_SKILLS = 100
OUTCOMES = ("succeeded", "failed", "cancelled")


def _object(data: Any, known: tuple[str, ...], required: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInput("", f"the body must be a JSON object, got {type(data).__name__}")
    for name in data:
        if name not in known:
            raise unknown_field(name, "", "", known)
    for name in required:
        if data.get(name) is None:
            raise InvalidInput(name, "is required")
    return data


def whole(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(path, f"must be a whole number, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(path, f"must be from {low} to {high}, got {value}")
    return value


def text(value: Any, path: str, most: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(path, f"must be text, got {type(value).__name__}")
    if len(value) > most:
        raise InvalidInput(path, f"is {len(value)} characters long, more than {most}")
    check_text(value, path)
    return value


def _number(value: Any, path: str, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(path, f"must be a number, got {value!r}"[:200])
    if not 0 <= value <= high:
        raise InvalidInput(path, f"must be from 0 to {high:g}, got {value!r}")
    return float(value)


def agent_name(value: Any, path: str = "name") -> str:
    name = text(value, path, 100)
    if not NAME_RE.match(name):
        raise InvalidInput(path, f"must be 1-100 letters, digits or _.- (a letter or digit first), got {name!r}")
    return name


@dataclass(frozen=True)
class Registration:
    name: str
    capabilities: tuple[str, ...]


def registration(data: Any) -> Registration:
    body = _object(data, ("name", "capabilities"), ("name",))
    return Registration(agent_name(body["name"]),
                        capabilities.parse(body.get("capabilities") or [], "capabilities", capabilities.MAX_AGENT))


@dataclass(frozen=True)
class ClaimRequest:
    skills: tuple[str, ...] | None  # None: any skill an agent may claim
    pid: int | None


def claim_request(data: Any) -> ClaimRequest:
    body = _object(data if data is not None else {}, ("skills", "pid"))
    skills = body.get("skills")
    if skills is not None:
        if isinstance(skills, str) or not isinstance(skills, list):
            raise InvalidInput("skills", f"must be a list of skill names, got {type(skills).__name__}")
        if not 1 <= len(skills) <= MAX_SKILLS:
            raise InvalidInput("skills", f"must name 1 to {MAX_SKILLS} skills, got {len(skills)}")
        skills = tuple(text(s, f"skills[{i}]", 200) for i, s in enumerate(skills))
    pid = body.get("pid")
    return ClaimRequest(skills, None if pid is None else whole(pid, "pid", 1, MAX_PID))


@dataclass(frozen=True)
class Held:
    """The attempt a heartbeat or a report speaks for: the task and the fencing token its claim returned."""

    task: int
    token: int
    output: tuple[str, str] | None = None  # stdout, stderr so far (a heartbeat's)


def heartbeat(data: Any, output_limit: int) -> Held:
    """The attempt it renews, and its output so far when it sends some (``output_limit``: the tail shown)."""
    body = _object(data, ("task", "token", "stdout", "stderr"), ("task", "token"))
    output = None
    if "stdout" in body or "stderr" in body:
        output = (text(body.get("stdout", ""), "stdout", MAX_OUTPUT)[-output_limit:],
                  text(body.get("stderr", ""), "stderr", MAX_OUTPUT)[-output_limit:])
    return Held(whole(body["task"], "task", 1, MAX_TASK_ID), whole(body["token"], "token", 1, MAX_INT), output)


REPORT_FIELDS = ("task", "token", "outcome", "result", "error", "error_type", "retryable", "exit_code", "stdout",
                 "stderr", "duration", "cost")


def report(data: Any, output_limit: int) -> tuple[Held, Observation]:
    """The attempt and what became of it, as the runner would have observed it (``output_limit``: the tail kept)."""
    body = _object(data, REPORT_FIELDS, ("task", "token", "outcome"))
    held = Held(whole(body["task"], "task", 1, MAX_TASK_ID), whole(body["token"], "token", 1, MAX_INT))
    outcome = body["outcome"]
    if outcome not in OUTCOMES:
        raise InvalidInput("outcome", f"must be one of {', '.join(OUTCOMES)}, got {str(outcome)[:50]!r}")
    result = body.get("result")
    check_json(result, "result")
    error = text(body.get("error", ""), "error", MAX_ERROR)
    error_type = text(body.get("error_type", ""), "error_type", 100)
    if error_type and not ERROR_TYPE_RE.match(error_type):
        raise InvalidInput("error_type", f"must be a name like CommandFailed, got {error_type!r}")
    retryable = body.get("retryable", True)
    if not isinstance(retryable, bool):
        raise InvalidInput("retryable", f"must be true or false, got {type(retryable).__name__}")
    code = body.get("exit_code")
    code = None if code is None else whole(code, "exit_code", -255, 255)
    cost = _number(body.get("cost", 0), "cost", 1e12)
    seen = Observation(Outcome.success(None), exit_code=code,
                       stdout=text(body.get("stdout", ""), "stdout", MAX_OUTPUT)[-output_limit:],
                       stderr=text(body.get("stderr", ""), "stderr", MAX_OUTPUT)[-output_limit:],
                       duration=_number(body.get("duration", 0), "duration", 1e9))
    if outcome == "succeeded":
        return held, replace(seen, outcome=Outcome.success(result, cost=cost))
    if outcome == "cancelled":
        return held, replace(seen, outcome=Outcome.failure(error or "cancelled", retryable=False, cost=cost),
                             attempt_outcome="cancelled", error_type=error_type or "Cancelled")
    return held, replace(seen, outcome=Outcome.failure(error or "the agent reported a failure", retryable=retryable,
                                                       cost=cost), attempt_outcome="failed",
                         error_type=error_type or "AgentFailed")

"""What PostgreSQL can store of an attempt (pure, no Django): the engine passes every observation through
``storable`` before it writes a row.

Skills print, return and raise what they like, and a row the database refuses would leave the task
"running" until its lease ran out (then "lost", retried, and the cause gone). PostgreSQL's text and jsonb
refuse NUL, and psycopg cannot encode a lone surrogate (U+D800..U+DFFF) as UTF-8. So:

- output and messages (stdout, stderr, traceback, error, reason) are cleaned: each NUL and lone surrogate
  becomes U+FFFD (they are the tail of what a process wrote, shown to people, never read back as data);
- values (a result, artifacts, the task specs of ``needs``/``children``/``join``) are data: one that
  cannot be stored as it is fails the attempt for good as ``NotSerializable``, naming where, and a
  result or artifact over WEFT_MAX_RESULT_BYTES fails it as ``ResultTooLarge``, naming both sizes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .exceptions import InvalidInput
from .outcomes import Observation, Outcome
from .spec import check_json

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
ERROR_TYPE_MAX = 200  # Attempt.error_type's max_length
ARTIFACT_NAME_MAX = 200  # Artifact.name's max_length


def clean_text(value: Any) -> str:
    """``value`` as text PostgreSQL can store: NUL and lone surrogates become U+FFFD."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub(REPLACEMENT, text)
    return text


def json_problem(value: Any, what: str, max_bytes: int | None = None) -> tuple[str, str] | None:
    """(error type, message) if ``value`` cannot be stored as jsonb or is over ``max_bytes``; else None.

    What cannot be stored, and how it is said, is the submission's own rule (``spec.check_json``): one
    declaration for a value coming in and a value coming back. The size is that of the value as UTF-8 JSON.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        size = len(text) if text.isascii() else len(text.encode("utf-8"))  # a lone surrogate fails here
        # Control characters are always escaped, so a NUL shows as \u0000 (so would a literal "\\u0000")
        suspect = "\\u0000" in text
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        suspect, size = True, 0
    if suspect:
        try:
            check_json(value, what)
        except InvalidInput as exc:
            return "NotSerializable", str(exc)
    if max_bytes is not None and size > max_bytes:
        return "ResultTooLarge", (f"{what} is {size:,} bytes of JSON, over the cap of {max_bytes:,} bytes "
                                  "(WEFT_MAX_RESULT_BYTES)")
    return None


def _artifacts_problem(artifacts: Any, max_bytes: int | None) -> tuple[str, str] | None:
    if not isinstance(artifacts, Mapping):
        return "NotSerializable", f"artifacts must be a mapping of name to value, got {type(artifacts).__name__}"
    for name, value in artifacts.items():
        if not isinstance(name, str) or not 0 < len(name) <= ARTIFACT_NAME_MAX or clean_text(name) != name:
            return "NotSerializable", f"artifact name {name!r} must be 1-{ARTIFACT_NAME_MAX} characters of text"
        problem = json_problem(value, f"artifacts.{name}", max_bytes)
        if problem is not None:
            return problem
    return None


def _outcome_problem(o: Outcome, max_bytes: int | None) -> tuple[str, str] | None:
    if o.kind == "success":
        problem = json_problem(o.value, "result", max_bytes)
        return problem if problem is not None else _artifacts_problem(o.artifacts, max_bytes)
    if o.kind == "failure" and o.artifacts:  # a failure's evidence: checked as a success's artifacts are
        return _artifacts_problem(o.artifacts, max_bytes)
    specs: dict[str, Any] = {"needs": o.needs} if o.kind == "blocked" else {
        "children": o.children, "join": o.join} if o.kind == "decompose" else {}
    for what, value in specs.items():
        problem = json_problem(value, what)
        if problem is not None:
            return problem
    return None


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def storable(obs: Observation, max_bytes: int | None) -> Observation:
    """``obs`` as PostgreSQL can store it: text cleaned, and a value it cannot store (or over ``max_bytes``)
    turned into a non-retryable failure that says why. Output and measurements are kept either way."""
    o = obs.outcome
    text = {"error_type": clean_text(obs.error_type)[:ERROR_TYPE_MAX], "traceback": clean_text(obs.traceback),
            "stdout": clean_text(obs.stdout), "stderr": clean_text(obs.stderr)}
    if any(v is not getattr(obs, k) for k, v in text.items()):  # dataclasses.replace costs more than the checks
        obs = replace(obs, **text)  # type: ignore[arg-type]  # only the str fields above
    cost = _cost(o.cost)
    if cost is None:
        problem: tuple[str, str] | None = ("InvalidCost", f"the cost must be a finite number, got {o.cost!r}")
    else:
        problem = _outcome_problem(o, max_bytes)
    if problem is not None:
        return replace(obs, outcome=Outcome.failure(problem[1], retryable=False, cost=cost or 0.0),
                       attempt_outcome="failed", error_type=problem[0])
    error, reason = clean_text(o.error), clean_text(o.reason)
    if cost is not None and (error is not o.error or reason is not o.reason or cost is not o.cost):
        obs = replace(obs, outcome=replace(o, error=error, reason=reason, cost=cost))
    return obs


def unrecordable(obs: Observation, exc: BaseException) -> Observation:
    """What to record when recording ``obs`` failed with ``exc`` (a last resort: ``storable`` should have
    made it impossible): a non-retryable failure naming the error, with the measurements but not the
    output or values, which may be what the database refused."""
    message = clean_text(f"the attempt's outcome could not be recorded: {type(exc).__name__}: {exc}")
    return Observation(Outcome.failure(message, retryable=False), "failed", "RecordFailed", exit_code=obs.exit_code,
                       duration=obs.duration, peak_rss_mb=obs.peak_rss_mb, cpu_seconds=obs.cpu_seconds,
                       peak_open_files=obs.peak_open_files, limit_hit=obs.limit_hit)

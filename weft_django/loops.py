"""Loop skills: run a step again and again until a validation passes (``@weft_django.loop``).

A loop is one task. Its iterations run inside its attempt, one after another; each is recorded (what the
step did, what the validation said, tokens, cost) as soon as it ends, fenced on the attempt's token, and
that record is the **progress log** the next iteration starts from. A loop whose worker dies resumes, in
its next attempt, at the first iteration not recorded: never from zero, never recording one twice.

It ends succeeded when the validation passes; failed, with the reason, when its iterations, tokens or
cost run out (not retried: another attempt would find the same log and the same budget); blocked when the
step returns ``Outcome.blocked``. A step may also return ``Outcome.decompose`` into child tasks, child loops
among them (Plan -> Spec -> Phase): the loop hands on to them and their join, as any decomposed task does.
The job's own deadline and budgets still apply as to any task.
"""

from __future__ import annotations

import functools
import inspect
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

from . import reports
from .argv import check_argv_template, render_argv
from .exceptions import InvalidInput
from .execution.processes import die_with_parent
from .lifecycle import ledger
from .options import OptionArgs
from .outcomes import NonRetryable, Outcome
from .registry import SkillDef, skill
from .spec import check_json

VALIDATION_TAIL = 4000  # characters of a validation command's output kept per iteration


@dataclass
class Step:
    """What one iteration's step gets as ``it``: where the loop is, what came before, and where to report use."""

    number: int
    of: int
    progress: list[dict[str, Any]]  # the earlier iterations: number, summary, passed, validation, tokens, cost
    ctx: Any  # the attempt's Context (task_id, job_id, attempt, key, dependencies)
    tokens: int = 0
    cost: float = 0.0
    summary: str = ""
    halted: str = ""  # why the job can go on no further (its token budget ran out while this step ran)

    def report_tokens(self, count: int) -> None:
        """Count tokens this iteration used (an LLM call's input plus output) against the loop's budget, and
        now against the job's ``max_tokens`` (``llm.chat(it=...)`` does it for its calls)."""
        self.tokens += int(count)
        counted = getattr(self.ctx, "report_tokens", None)
        if counted is not None:
            self.halted = counted(int(count)) or self.halted

    def report_cost(self, amount: float) -> None:
        """Count cost against the loop's budget and the job's (``max_cost``)."""
        self.cost += float(amount)

    def note(self, text: str) -> None:
        """Say what this iteration did: the next iterations read it in ``progress``."""
        self.summary = f"{self.summary}\n{text}" if self.summary else str(text)


Validator = Callable[[Any, Step], "bool | tuple[bool, str]"]


@dataclass(frozen=True)
class LoopSpec:
    max_iterations: int
    validate: Validator | tuple[str, ...]
    tokens: int | None = None
    cost: float | None = None
    validate_timeout: float = 600.0
    extra: dict[str, Any] = field(default_factory=dict)


def loop(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    validate: Validator | Sequence[str],
    max_iterations: int = 20,
    budget: Mapping[str, Any] | None = None,
    validate_timeout: float = 600.0,
    version: str = "1",
    params: Mapping[str, Any] | None = None,
    **task_options: Unpack[OptionArgs],
) -> Any:
    """Register ``step(it, **params)`` as a loop skill. ``validate``: a callable ``(result, it) -> bool`` (or
    ``(bool, message)``), or an argv template run after each step (``{name}`` placeholders filled from params,
    never a shell) that passes with exit status 0. ``budget``: ``{"tokens": int, "cost": float}`` for the whole
    loop, across its attempts. The task options are ``skill``'s."""
    spec = _spec(name or "loop", validate, max_iterations, budget, validate_timeout)

    def decorate(step: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(step)
        def run(ctx: Any, **kwargs: Any) -> Outcome:
            return iterate(spec, step, ctx, kwargs)

        run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD)])
        skill(run, name=name or f"{step.__module__}.{step.__name__}", version=version, params=params,
              **task_options)
        return step

    return decorate(func) if func is not None else decorate


def _spec(name: str, validate: Any, max_iterations: Any, budget: Any, validate_timeout: Any) -> LoopSpec:
    path = f"skills.{name}"
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or not 1 <= max_iterations <= 10_000:
        raise InvalidInput(f"{path}.max_iterations", f"must be a whole number from 1 to 10000, got {max_iterations!r}")
    if not callable(validate):
        validate = check_argv_template(validate, f"{path}.validate")
    if budget is None:
        budget = {}
    if not isinstance(budget, Mapping) or set(budget) - {"tokens", "cost"}:
        raise InvalidInput(f"{path}.budget", "must be an object with at most the keys 'tokens' and 'cost'")
    tokens, cost = budget.get("tokens"), budget.get("cost")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1):
        raise InvalidInput(f"{path}.budget.tokens", f"must be a whole number of at least 1, got {tokens!r}")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or not cost > 0):
        raise InvalidInput(f"{path}.budget.cost", f"must be a number greater than 0, got {cost!r}")
    if isinstance(validate_timeout, bool) or not isinstance(validate_timeout, int | float) or not validate_timeout > 0:
        raise InvalidInput(f"{path}.validate_timeout", f"must be a number greater than 0, got {validate_timeout!r}")
    return LoopSpec(max_iterations, validate, tokens, None if cost is None else float(cost), float(validate_timeout))


def iterate(spec: LoopSpec, step: Callable[..., Any], ctx: Any, params: dict[str, Any]) -> Outcome:
    """Run the iterations left, from the progress log on; one Outcome for the whole loop."""
    progress = reports.iterations(ctx.task_id)
    used_tokens = sum(p["tokens"] for p in progress)
    used_cost = sum(p["cost"] for p in progress)
    last = progress[-1] if progress else None
    if last is not None and last["passed"]:  # recorded, then the worker died before reporting: done already
        return Outcome.success(last["result"])
    for number in range(len(progress) + 1, spec.max_iterations + 1):
        out_of_budget = _budget_left(spec, used_tokens, used_cost) or _job_halted(ctx)
        if out_of_budget:
            return _stopped(out_of_budget, progress)
        it = Step(number, spec.max_iterations, list(progress), ctx)
        started = time.monotonic()
        value = step(it, **params)
        if isinstance(value, Outcome) and value.kind != "success":
            if value.kind in ("blocked", "decompose"):  # waits for input, or hands on to child loops
                return value.plus_cost(it.cost)
            raise NonRetryable(f"a loop's step returns a value, Outcome.blocked or Outcome.decompose, not "
                               f"Outcome.{value.kind}")
        result = value.value if isinstance(value, Outcome) else value
        passed, message = _validate(spec, result, it, params)
        if passed:
            check_json(result, "result")  # kept with the iteration: a resumed loop returns it
        entry = {"number": number, "summary": it.summary, "passed": passed, "validation": message,
                 "tokens": it.tokens, "cost": it.cost, "result": result if passed else None}
        if not ledger.write_iteration(ctx.task_id, ctx.attempt, job_id=ctx.job_id, attempt_id=ctx.attempt_id,
                                      of=spec.max_iterations, tokens_limit=spec.tokens,
                                      duration=round(time.monotonic() - started, 6), **entry):
            raise NonRetryable(f"iteration {number} could not be recorded: this attempt lost its lease")
        ctx.report_cost(it.cost)
        progress.append(entry)
        used_tokens += it.tokens
        used_cost += it.cost
        if passed:
            return Outcome.success(result)
        if it.halted:
            return _stopped(f"the job can go on no further: {it.halted}", progress)
    return _stopped(f"{spec.max_iterations} of {spec.max_iterations} iterations used", progress)


def _budget_left(spec: LoopSpec, tokens: int, cost: float) -> str:
    if spec.tokens is not None and tokens >= spec.tokens:
        return f"token budget used up: {tokens:,} of {spec.tokens:,} tokens"
    if spec.cost is not None and cost >= spec.cost:
        return f"cost budget used up: {cost:g} of {spec.cost:g}"
    return ""


def _job_halted(ctx: Any) -> str:
    """Why the job can go on no further (stopped by its token budget or deadline, cancelled), or "": asked before
    each iteration, so a loop whose job ran out does not start another."""
    counted = getattr(ctx, "report_tokens", None)
    why = counted(0) if counted is not None else ""
    return f"the job can go on no further: {why}" if why else ""


def _stopped(why: str, progress: list[dict[str, Any]]) -> Outcome:
    """Not retried: another attempt would read the same log against the same budget."""
    last = progress[-1]["validation"] if progress else ""
    tail = f"; last validation: {last.strip().splitlines()[-1]}" if last.strip() else ""
    return Outcome.failure(f"loop stopped: {why}{tail}", stops_job=True)  # the job ends stopped, this reason


def _validate(spec: LoopSpec, result: Any, it: Step, params: Mapping[str, Any]) -> tuple[bool, str]:
    if callable(spec.validate):
        verdict = spec.validate(result, it)
        if isinstance(verdict, tuple):
            return bool(verdict[0]), str(verdict[1])
        return bool(verdict), "passed" if verdict else "failed"
    definition = SkillDef(name="validate", kind="command", argv=spec.validate)
    argv = render_argv(definition, params)
    try:
        # run() kills the command if this thread is interrupted (a cancel, a limit, the lease) or it times out;
        # die_with_parent kills it if the worker process dies first (it must not outlive its attempt).
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=spec.validate_timeout,
                              preexec_fn=die_with_parent,
                              check=False)
    except subprocess.TimeoutExpired:
        return False, f"validation timed out after {spec.validate_timeout:g} s"
    except OSError as exc:
        raise NonRetryable(f"cannot run the validation {argv[0]!r}: {exc}") from exc
    output = (done.stdout + done.stderr).decode("utf-8", "replace")[-VALIDATION_TAIL:].replace("\x00", "\ufffd")
    return done.returncode == 0, output or f"exit status {done.returncode}"

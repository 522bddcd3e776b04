"""What a skill may return besides a plain value (pure, no Django)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Kind = Literal["success", "failure", "blocked", "decompose"]


@dataclass(frozen=True)
class Outcome:
    """A skill's explicit result. A plain return value means ``Outcome.success(value)``."""

    kind: Kind
    value: Any = None
    error: str = ""
    retryable: bool = True
    stops_job: bool = False  # a failure that ends its job ``stopped`` (a loop out of iterations or budget)
    reason: str = ""
    needs: tuple[Mapping[str, Any], ...] = ()
    children: tuple[Mapping[str, Any], ...] = ()
    join: Mapping[str, Any] | None = None
    cost: float = 0.0
    artifacts: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def success(cls, value: Any = None, *, cost: float = 0.0, artifacts: Mapping[str, Any] | None = None) -> Outcome:
        return cls("success", value=value, cost=cost, artifacts=artifacts or {})

    @classmethod
    def failure(cls, error: str, *, retryable: bool = True, cost: float = 0.0,
                artifacts: Mapping[str, Any] | None = None, stops_job: bool = False) -> Outcome:
        """``artifacts``: evidence kept even though it failed (an agent's diff and validation output).
        ``stops_job``: not retried, and its job ends ``stopped`` with ``error`` as the reason (not ``failed``)."""
        return cls("failure", error=error, retryable=retryable and not stops_job, cost=cost,
                   artifacts=artifacts or {}, stops_job=stops_job)

    @classmethod
    def blocked(cls, reason: str, *, needs: Sequence[Mapping[str, Any]] = (), cost: float = 0.0) -> Outcome:
        return cls("blocked", reason=reason, needs=tuple(needs), cost=cost)

    @classmethod
    def decompose(
        cls, children: Sequence[Mapping[str, Any]], *, join: Mapping[str, Any] | None = None, cost: float = 0.0
    ) -> Outcome:
        return cls("decompose", children=tuple(children), join=join, cost=cost)

    def plus_cost(self, reported: float) -> Outcome:
        """This outcome with ``reported`` (what the skill gave ``ctx.report_cost``) added to its own cost:
        both count. A cost that is not a number is left alone for the engine to refuse (storable.py)."""
        if not reported or isinstance(self.cost, bool) or not isinstance(self.cost, int | float):
            return self
        return replace(self, cost=self.cost + reported)


class NonRetryable(Exception):
    """Raise (or subclass) from a skill to fail without retrying."""


@dataclass(frozen=True)
class Observation:
    """What the runner saw of one attempt: the skill's outcome plus how the process behaved."""

    outcome: Outcome
    attempt_outcome: str = "succeeded"  # an AttemptOutcome value
    error_type: str = ""
    traceback: str = ""
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    peak_rss_mb: float | None = None
    cpu_seconds: float | None = None
    peak_open_files: int | None = None
    limit_hit: str = ""

"""The one exception root of weft_django and its subclasses."""

from __future__ import annotations


class WeftError(Exception):
    """Root of every error weft_django raises on purpose."""


class InvalidInput(WeftError):
    """Bad input: ``field`` names what was wrong, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class UnknownSkill(InvalidInput):
    """The named skill is not registered."""

    def __init__(self, name: str, field: str = "skill", known: list[str] | None = None) -> None:
        also = f" (registered versions: {', '.join(known)})" if known else ""
        super().__init__(field, f"unknown skill {name!r}{also}")
        self.name = name
        self.known = known


class Refused(InvalidInput):
    """Bad input a built-in policy refuses (a ceiling, a bound): ``rule`` names it on its decision record."""

    def __init__(self, field: str, message: str, rule: str) -> None:
        super().__init__(field, message)
        self.rule = rule


class SkillDisabled(InvalidInput):
    """An operator switched the skill off (its Skill row's ``enabled``): nothing new of it is accepted."""

    rule = "builtin.skill_enabled"

    def __init__(self, name: str, field: str = "skill") -> None:
        super().__init__(field, f"skill {name!r} is disabled")
        self.name = name


class NotAllowed(WeftError):
    """The caller may not run this skill or see this job."""


class PolicyDenied(NotAllowed):
    """A policy refused the submission: ``rule`` names it, ``field`` what it refused, ``reason`` why
    (the HTTP API answers 403 naming the rule)."""

    def __init__(self, field: str, message: str, rule: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.rule = rule


class UnknownId(WeftError):
    """No job or task with that id."""


class LeaseLost(WeftError):
    """An agent outside Celery spoke for an attempt whose lease it no longer holds (the sweep recovered the task,
    another claim took it, or the attempt is closed): nothing it said was applied (the HTTP API answers 409)."""

    def __init__(self, task_id: int, token: int, why: str) -> None:
        super().__init__(f"task {task_id}: the lease of attempt {token} is lost: {why}")
        self.task_id = task_id
        self.token = token
        self.why = why


class InvalidTransition(WeftError):
    """A state change was asked of a row that is not in a state that allows it."""


class ResultTimeout(WeftError):
    """``result(..., timeout=...)`` gave up waiting."""


class NotSerializable(WeftError):
    """A skill returned something that cannot be stored as JSON."""


class JobFailed(WeftError):
    """``result()`` of a job that did not succeed: ``status`` is how it ended, ``error`` why."""

    def __init__(self, job_id: int, status: str, error: str) -> None:
        super().__init__(f"job {job_id} {status}: {error}" if error else f"job {job_id} {status}")
        self.job_id = job_id
        self.status = status
        self.error = error


# The earlier names, kept working. They read like Django's and DRF's own exceptions (an adapter that
# catches weft's ValidationError and raises DRF's was hard to follow), so the code uses the names above.
ValidationError = InvalidInput
PermissionDenied = NotAllowed
NotFound = UnknownId
TaskFailed = JobFailed

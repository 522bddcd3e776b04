"""The task options, declared once (pure, no Django, no Celery).

A task option is what a submission may set, a skill may default and the settings may default or bound:
limits, retry, timeout, queue, priority, locks, capabilities. ``skill``, ``params``, ``key`` and ``depends_on`` are not
options: they say what to run and where it sits in the job's graph, and nothing merges them.

Each option is one field of ``TaskOptions``, carrying an ``Option`` as its metadata: its name and type
are the field's, its default the field's default. Everything else is derived from this class:
``TaskSpec`` and ``SkillDef`` inherit its fields, ``TaskSpec.parse``/``validate`` and the registry run
its checks, ``resolve.py`` merges by its ``Merge`` kinds, the fast path's column lists read ``COLUMNS``,
the DRF submission serializer and ``weft_run`` build one field and one command-line option from
``form`` and ``cli``. Adding an option is a field here and a migration for its Task (and Skill) column;
tests/unit/test_options.py fails until everything derived from it carries it.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict

from . import capabilities as caps
from . import gates, versions
from .exceptions import InvalidInput
from .limits import Limits
from .validators import PRIORITY_RANGE, QUEUE_RE, positive_number


class Merge(enum.Enum):
    """How an option's value is worked out from the settings, the skill and the submission."""

    FIRST = "the submission's, else the skill's, else the default setting"
    LIMITS = "each limit the submission sets over the skill's; every limit within the ceiling setting's"
    RETRY = "each field the submission sets over the skill's over the default setting's, within the bounds"
    UNION = "the skill's and the submission's together, each filled from the params"
    SET = "the skill's and the submission's together, each once, sorted, within the option's bound"


class Form(enum.Enum):
    """What a value looks like to a caller: the DRF field and the command-line type follow from it."""

    LIMITS = "an object of numbers by limit name"
    OBJECT = "an object"
    NUMBER = "a number greater than 0"
    TEXT = "text"
    RANK = "a whole number from 0 to 9"
    LIST = "a list of names"
    LABELS = "a list of labels"


@dataclass(frozen=True)
class Ceiling:
    """A setting that bounds a FIRST option: ``max`` (a number the value may not exceed, in ``unit``) or
    ``member`` (a list the value must be in, when the setting is not None)."""

    setting: str
    kind: str  # "max" | "member"
    unit: str = ""  # max: after each number in the message
    what: str = ""  # member: what the list is, in the message


@dataclass(frozen=True)
class Cli:
    """``weft_run``'s option for it; ``repeat`` collects NAME=VALUE pairs (``--limit``) into an object,
    ``append`` collects values (``--lock``) into a list."""

    flag: str
    help: str
    metavar: str | None = None
    repeat: bool = False
    append: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def _check_retry(value: Any, path: str) -> None:
    # Only the shape here: the policy itself is parsed over the skill's and the setting's (resolve.py).
    if value is not None and not isinstance(value, Mapping):
        raise InvalidInput(path, f"must be an object, got {type(value).__name__}")


def _check_timeout(value: Any, path: str) -> None:
    if value is not None:
        positive_number(path, value)


def _check_queue(value: Any, path: str) -> None:
    if value is not None and (not isinstance(value, str) or not QUEUE_RE.match(value)):
        raise InvalidInput(path, f"must be 1-100 letters, digits or _.-, got {value!r}")


def _check_priority(value: Any, path: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value not in PRIORITY_RANGE):
        raise InvalidInput(path, f"must be a whole number from 0 to 9, got {value!r}")


def _parse_limits(value: Any, path: str) -> Limits:
    return value if isinstance(value, Limits) else Limits.parse(value, path)


@dataclass(frozen=True)
class Option:
    """One option's declaration (the metadata of its ``TaskOptions`` field)."""

    merge: Merge
    form: Form
    cli: Cli | None  # None: not on weft_run's command line (required: a new option decides)
    default_setting: str | None = None  # the conf.settings attribute with the default, under the skill's
    ceiling: Ceiling | None = None  # FIRST options only; LIMITS and RETRY carry their bounds in their merge
    parse: Callable[[Any, str], Any] | None = None  # plain data (JSON, kwargs) -> the spec's value
    check: Callable[[Any, str], None] | None = None  # raises InvalidInput naming the path
    column: str = ""  # the Task (and Skill) column; the option's name unless set
    sql_type: str = "text"  # its PostgreSQL type, for the fast path's casts
    skill_blank: Any = None  # what a Skill row stores when the skill leaves it unset (a not-null column)
    name: str = ""  # filled from the field by _declared


@dataclass(frozen=True, kw_only=True)
class TaskOptions:
    """The task options: the declaration. TaskSpec and SkillDef inherit these fields."""

    limits: Limits = field(default_factory=Limits, metadata={"option": Option(
        Merge.LIMITS, Form.LIMITS,
        Cli("--limit", "A resource limit for each attempt: memory_mb, cpu_seconds, cpu_percent, wall_seconds, "
                       "open_files. Repeatable.", metavar="NAME=NUMBER", repeat=True),
        parse=_parse_limits, sql_type="jsonb", skill_blank={})})
    retry: Mapping[str, Any] | None = field(default=None, metadata={"option": Option(
        Merge.RETRY, Form.OBJECT, None,
        default_setting="DEFAULT_RETRY", check=_check_retry, sql_type="jsonb", skill_blank={})})
    timeout: float | None = field(default=None, metadata={"option": Option(
        Merge.FIRST, Form.NUMBER,
        Cli("--task-timeout", "Seconds one attempt may run (default: %(default)r, the skill's own).",
            metavar="SECONDS"),
        default_setting="DEFAULT_TIMEOUT", ceiling=Ceiling("MAX_TIMEOUT", "max", unit=" s"), check=_check_timeout,
        sql_type="float8")})
    queue: str | None = field(default=None, metadata={"option": Option(
        Merge.FIRST, Form.TEXT, Cli("--queue", "Celery queue (default: %(default)r, the skill's own)."),
        default_setting="DEFAULT_QUEUE", ceiling=Ceiling("QUEUES", "member", what="the queues workers read"),
        check=_check_queue, skill_blank="")})
    priority: int | None = field(default=None, metadata={"option": Option(
        Merge.FIRST, Form.RANK, Cli("--priority", "0 (first) to 9 (last) (default: %(default)r, the skill's own)."),
        default_setting="DEFAULT_PRIORITY", check=_check_priority, sql_type="int")})
    # Held while an attempt runs; a task waits for any it cannot take (gates.py, lifecycle/locks.py).
    locks: tuple[str, ...] = field(default=(), metadata={"option": Option(
        Merge.UNION, Form.LIST,
        Cli("--lock", "A lock held while the task runs: 'namespace:name' or a path glob ('repo:src/**'), "
                      "{param} filled from params. Repeatable.", metavar="LOCK", append=True),
        parse=gates.parse_locks, check=gates.check_locks, sql_type="jsonb", skill_blank=[])})
    # What a worker or an agent must have to run it: it is sent to its routed queue (capabilities.py), and an
    # agent outside Celery claims it only if its own labels cover these (lifecycle/external.py).
    capabilities: tuple[str, ...] = field(default=(), metadata={"option": Option(
        Merge.SET, Form.LABELS,
        Cli("--capability", "A capability the task requires of its worker or agent ('gpu', 'python3.12'). "
                            "Repeatable.", metavar="LABEL", append=True),
        parse=caps.parse, check=caps.check, sql_type="jsonb", skill_blank=[])})


@dataclass(frozen=True)
class Pin:
    """The skill version a submission may pin. Not a task option (it chooses which skill runs; nothing merges it
    and a skill has no default for it) but declared here, once, so that TaskSpec, ``submit()``, the API's
    submission serializer and ``weft_run`` all derive it. ``"name@2"`` in ``skill`` pins the same way."""

    name: str
    form: Form
    cli: Cli
    check: Callable[[Any, str], None]
    help: str


VERSION = Pin("version", Form.TEXT, Cli("--skill-version", "Run this version of the skill (default: %(default)r, "
                                                        "the newest enabled one); SKILL@VERSION says the same.",
                                        metavar="VERSION"),
              versions.check_version, "The skill version to run (default: the newest enabled one); tasks keep it.")


class OptionArgs(TypedDict, total=False):
    """The options as keyword arguments of ``skill()`` and ``command_skill()``: plain data, as a caller
    writes them (limits as a mapping). The test holds it to TaskOptions' fields."""

    limits: Mapping[str, Any] | None
    retry: Mapping[str, Any] | None
    timeout: float | None
    queue: str | None
    priority: int | None
    locks: Sequence[str] | None
    capabilities: Sequence[str] | None


def _declared() -> tuple[Option, ...]:
    out = []
    for f in fields(TaskOptions):
        opt: Option = f.metadata["option"]
        out.append(Option(**{**vars(opt), "name": f.name, "column": opt.column or f.name}))
    return tuple(out)


OPTIONS: tuple[Option, ...] = _declared()
BY_NAME: Mapping[str, Option] = {o.name: o for o in OPTIONS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
# The Task columns of the options, in declaration order (the fast path's INSERT lists name each one).
COLUMNS: tuple[str, ...] = tuple(o.column for o in OPTIONS)
SQL_TYPES: Mapping[str, str] = {o.column: o.sql_type for o in OPTIONS}


def parse_values(data: Mapping[str, Any], path_prefix: str) -> dict[str, Any]:
    """Each option given in ``data`` (plain data), parsed to the spec's value; a missing one is left out
    (the dataclass default applies)."""
    return {o.name: (o.parse(data[o.name], f"{path_prefix}{o.name}") if o.parse is not None else data[o.name])
            for o in OPTIONS if data.get(o.name) is not None}


def check_values(values: Any, path_prefix: str) -> None:
    """Run every option's check on ``values`` (a TaskOptions: a spec or a skill), naming ``prefix.name``."""
    for o in OPTIONS:
        if o.check is not None:
            o.check(getattr(values, o.name), f"{path_prefix}{o.name}")


def items(values: Any) -> Iterator[tuple[Option, Any]]:
    """(option, value) for each option of ``values`` (a spec or a skill)."""
    for o in OPTIONS:
        yield o, getattr(values, o.name)


# hashable() runs for every submitted task (resolve's cache key): one attrgetter call, and a conversion
# only for the options whose values are mappings.
_GET = operator.attrgetter(*NAMES)
_MAPPINGS = tuple(i for i, o in enumerate(OPTIONS) if o.form is Form.OBJECT)


def hashable(values: Any) -> tuple[Any, ...]:
    """The options of ``values`` as a hashable tuple (a mapping as its sorted items); TypeError if a value
    inside cannot be hashed."""
    got: tuple[Any, ...] = _GET(values)
    if _MAPPINGS:
        listed = list(got)
        for i in _MAPPINGS:
            if listed[i] is not None:
                listed[i] = tuple(sorted(listed[i].items()))
        got = tuple(listed)
    hash(got)
    return got


def refuse_unknown(given: Mapping[str, Any], function: str) -> None:
    """Raise TypeError, as Python does for a named parameter, for a keyword that is not an option."""
    for name in given:
        if name not in BY_NAME:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")


def plain(value: Any) -> Any:
    """An option's value as its column holds it (Limits as the limits it sets, a mapping as a dict)."""
    if isinstance(value, Limits):
        return value.as_dict()
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, Mapping) else value


def skill_row(values: Any) -> dict[str, Any]:
    """The Skill row's option columns for a skill: what it sets, else the column's blank."""
    return {o.column: o.skill_blank if v is None else plain(v) for o, v in items(values)}

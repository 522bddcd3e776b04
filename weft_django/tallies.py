"""Finished work counted as it happens (the Tally rows): the triggers that count, and the sweep's upkeep.

The counting is the database's: a trigger on weft_task (a status becoming final) and one on weft_attempt (an
outcome set) insert a row of one for the current minute and the skill. So every writer counts, the
single-statement fast paths and bulk cancels included, with no Python on the hot path; and as a trigger only
inserts, no session waits on another's row (an upsert into one row would also make a bulk update of many
tasks slow: every update of one row inside a transaction adds a version the next must step over). The sweep
merges the rows (``compact``) and samples each skill's backlog (``sample_queued``). The reads are in
reports/metrics.py (the counters) and reports/metrics.last_hour (the dashboard's chart).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import Tally, Task
from .states import FINAL_TASK_STATES, TaskStatus

KEEP_MINUTES = 120  # minutes kept one by one (the dashboard shows the last 60); older ones are folded
BATCH = 50_000  # rows merged by one sweep at most (a bulk update of a million tasks is merged over a few)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the minute of the folded totals
_FINAL = ", ".join(f"'{s}'" for s in sorted(FINAL_TASK_STATES))
_ATTEMPT_SKILL = "(SELECT skill_name FROM weft_task WHERE id = NEW.task_id)"

_PG_INSERT = """INSERT INTO weft_tally (minute, skill, kind, value, n)
    VALUES (date_trunc('minute', now()), {skill}, '{kind}', {value}, 1);"""
POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION weft_tally_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_PG_INSERT.format(skill="NEW.skill_name", kind="task", value="NEW.status")} RETURN NULL; END $$""",
    f"""CREATE OR REPLACE FUNCTION weft_tally_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_PG_INSERT.format(skill=_ATTEMPT_SKILL, kind="attempt", value="NEW.outcome")} RETURN NULL; END $$""",
    "DROP TRIGGER IF EXISTS weft_tally_task ON weft_task",  # CREATE OR REPLACE TRIGGER needs PostgreSQL 14
    f"""CREATE TRIGGER weft_tally_task AFTER UPDATE OF status ON weft_task FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ({_FINAL})) EXECUTE FUNCTION weft_tally_task()""",
    "DROP TRIGGER IF EXISTS weft_tally_attempt ON weft_attempt",
    """CREATE TRIGGER weft_tally_attempt AFTER UPDATE OF outcome ON weft_attempt FOR EACH ROW
WHEN (OLD.outcome = 'running' AND NEW.outcome <> 'running') EXECUTE FUNCTION weft_tally_attempt()""",
    "DROP TRIGGER IF EXISTS weft_tally_attempt_closed ON weft_attempt",
    """CREATE TRIGGER weft_tally_attempt_closed AFTER INSERT ON weft_attempt FOR EACH ROW
WHEN (NEW.outcome <> 'running') EXECUTE FUNCTION weft_tally_attempt()""",
]
POSTGRES_DROP = ["DROP TRIGGER IF EXISTS weft_tally_task ON weft_task",
                 "DROP TRIGGER IF EXISTS weft_tally_attempt ON weft_attempt",
                 "DROP TRIGGER IF EXISTS weft_tally_attempt_closed ON weft_attempt",
                 "DROP FUNCTION IF EXISTS weft_tally_task()", "DROP FUNCTION IF EXISTS weft_tally_attempt()"]

# SQLite (the demo): minutes as Django stores datetimes there.
_SQLITE_INSERT = """INSERT INTO weft_tally (minute, skill, kind, value, n)
    VALUES (strftime('%Y-%m-%d %H:%M:00', 'now'), {skill}, '{kind}', {value}, 1);"""
SQLITE = [
    f"""CREATE TRIGGER IF NOT EXISTS weft_tally_task AFTER UPDATE OF status ON weft_task FOR EACH ROW
WHEN OLD.status IS NOT NEW.status AND NEW.status IN ({_FINAL})
BEGIN {_SQLITE_INSERT.format(skill="NEW.skill_name", kind="task", value="NEW.status")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS weft_tally_attempt AFTER UPDATE OF outcome ON weft_attempt FOR EACH ROW
WHEN OLD.outcome = 'running' AND NEW.outcome <> 'running'
BEGIN {_SQLITE_INSERT.format(skill=_ATTEMPT_SKILL, kind="attempt", value="NEW.outcome")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS weft_tally_attempt_closed AFTER INSERT ON weft_attempt FOR EACH ROW
WHEN NEW.outcome <> 'running'
BEGIN {_SQLITE_INSERT.format(skill=_ATTEMPT_SKILL, kind="attempt", value="NEW.outcome")} END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS weft_tally_task", "DROP TRIGGER IF EXISTS weft_tally_attempt",
               "DROP TRIGGER IF EXISTS weft_tally_attempt_closed"]


def _run(schema_editor: Any, pg: list[str], sqlite: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    for sql in pg if vendor == "postgresql" else sqlite if vendor == "sqlite" else []:
        schema_editor.execute(sql, params=None)


def install_triggers(apps: Any, schema_editor: Any) -> None:
    """The migration's forward step (0022_tally)."""
    _run(schema_editor, POSTGRES, SQLITE)


def remove_triggers(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, POSTGRES_DROP, SQLITE_DROP)


def compact(now: datetime | None = None) -> int:
    """Merge the rows up to the newest into one per (minute, skill, kind, value), minutes older than
    KEEP_MINUTES into the epoch's totals (backlog samples of those are dropped); how many rows went. What is
    merged is what the DELETE returned, so two sweeps at once never count a row twice (the second finds it
    gone); rows inserted meanwhile wait for the next sweep."""
    before = (now or timezone.now()) - timedelta(minutes=KEEP_MINUTES)
    with transaction.atomic():
        newest = (Tally.objects.order_by("pk").values_list("pk", flat=True)[BATCH - 1:BATCH].first()
                  or Tally.objects.order_by("-pk").values_list("pk", flat=True).first())
        if newest is None:
            return 0
        rows = Tally.objects.filter(pk__lte=newest)
        groups = rows.values("minute", "skill", "kind", "value").distinct().count()
        if groups == rows.count() and not rows.filter(minute__lt=before, minute__gt=EPOCH).exists():
            return 0  # nothing to merge or fold: the usual case between two sweeps of a quiet site
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM weft_tally WHERE id <= %s RETURNING minute, skill, kind, value, n", [newest])
            gone = cursor.fetchall()
        merged: dict[tuple[datetime, str, str, str], int] = {}
        for minute, skill, kind, value, n in gone:
            at = _moment(minute)
            if at < before and at != EPOCH:
                if kind == "queued":
                    continue
                at = EPOCH
            key = (at, skill, kind, value)
            merged[key] = max(merged.get(key, 0), n) if kind == "queued" else merged.get(key, 0) + n
        Tally.objects.bulk_create([Tally(minute=m, skill=s, kind=k, value=v, n=n)
                                   for (m, s, k, v), n in merged.items()])
    return len(gone)


def _moment(value: Any) -> datetime:
    """A minute as the cursor returned it: a datetime from PostgreSQL, text in UTC from SQLite."""
    at = value if isinstance(value, datetime) else parse_datetime(str(value))
    if at is None:
        raise ValueError(f"not a moment: {value!r}")
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def sample_queued(now: datetime | None = None) -> int:
    """This minute's backlog of each skill (queued tasks, read through weft_task_queued_idx), for the
    dashboard's queue depth over the last hour; a skill that had a sample this minute and none queued now
    gets a zero (drained, not a gap)."""
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    depth = dict(Task.objects.filter(status=TaskStatus.QUEUED).values_list("skill_name").annotate(n=Count("pk"))
                 .order_by())
    for skill in set(Tally.objects.filter(minute=minute, kind="queued").values_list("skill", flat=True)):
        depth.setdefault(skill, 0)
    Tally.objects.bulk_create([Tally(minute=minute, skill=s, kind="queued", value="", n=n) for s, n in depth.items()])
    return len(depth)


def upkeep() -> int:
    """The sweep's step: sample each skill's backlog, then compact; how many rows were merged away."""
    sample_queued()
    return compact()



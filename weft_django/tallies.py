"""Finished work counted as it happens (the Tally rows): the triggers that count, and the sweep's upkeep.

The counting is the database's: a trigger on weft_task (a status becoming final) and one on weft_attempt (an
outcome set) add one to the current minute's row of the skill, in the writing session's own shard. So every
writer counts, the single-statement fast paths and bulk cancels included, with no Python on the hot path and
no two sessions on one row. The sweep folds old minutes (``fold``) and samples each skill's backlog
(``sample_queued``). Reads are in reports/metrics.py (counters) and reports/dashboard.py (the last hour).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from .models import Tally, Task
from .states import FINAL_TASK_STATES, TaskStatus

KEEP_MINUTES = 120  # minutes kept one by one (the dashboard shows the last 60); older ones are folded
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the minute of the folded totals
_FINAL = ", ".join(f"'{s}'" for s in sorted(FINAL_TASK_STATES))

_PG_UPSERT = """INSERT INTO weft_tally (minute, skill, kind, value, shard, n)
    VALUES (date_trunc('minute', now()), {skill}, '{kind}', {value}, pg_backend_pid(), 1)
    ON CONFLICT (minute, skill, kind, value, shard) DO UPDATE SET n = weft_tally.n + 1;"""
POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION weft_tally_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_PG_UPSERT.format(skill="NEW.skill_name", kind="task", value="NEW.status")} RETURN NULL; END $$""",
    f"""CREATE OR REPLACE FUNCTION weft_tally_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_PG_UPSERT.format(skill="(SELECT skill_name FROM weft_task WHERE id = NEW.task_id)", kind="attempt",
                         value="NEW.outcome")} RETURN NULL; END $$""",
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

# SQLite (the demo): one writer at a time, so one shard; minutes as Django stores datetimes there.
_SQLITE_UPSERT = """INSERT INTO weft_tally (minute, skill, kind, value, shard, n)
    VALUES (strftime('%Y-%m-%d %H:%M:00', 'now'), {skill}, '{kind}', {value}, 0, 1)
    ON CONFLICT (minute, skill, kind, value, shard) DO UPDATE SET n = n + 1;"""
SQLITE = [
    f"""CREATE TRIGGER IF NOT EXISTS weft_tally_task AFTER UPDATE OF status ON weft_task FOR EACH ROW
WHEN OLD.status IS NOT NEW.status AND NEW.status IN ({_FINAL})
BEGIN {_SQLITE_UPSERT.format(skill="NEW.skill_name", kind="task", value="NEW.status")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS weft_tally_attempt AFTER UPDATE OF outcome ON weft_attempt FOR EACH ROW
WHEN OLD.outcome = 'running' AND NEW.outcome <> 'running'
BEGIN {_SQLITE_UPSERT.format(skill="(SELECT skill_name FROM weft_task WHERE id = NEW.task_id)", kind="attempt",
                             value="NEW.outcome")} END""",
    f"""CREATE TRIGGER IF NOT EXISTS weft_tally_attempt_closed AFTER INSERT ON weft_attempt FOR EACH ROW
WHEN NEW.outcome <> 'running'
BEGIN {_SQLITE_UPSERT.format(skill="(SELECT skill_name FROM weft_task WHERE id = NEW.task_id)", kind="attempt",
                             value="NEW.outcome")} END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS weft_tally_task", "DROP TRIGGER IF EXISTS weft_tally_attempt",
               "DROP TRIGGER IF EXISTS weft_tally_attempt_closed"]


def _run(schema_editor: Any, pg: list[str], sqlite: list[str]) -> None:
    vendor = schema_editor.connection.vendor
    for sql in pg if vendor == "postgresql" else sqlite if vendor == "sqlite" else []:
        schema_editor.execute(sql, params=None)


def install_triggers(apps: Any, schema_editor: Any) -> None:
    """The migration's forward step (0020_tally)."""
    _run(schema_editor, POSTGRES, SQLITE)


def remove_triggers(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, POSTGRES_DROP, SQLITE_DROP)


FOLD = """
WITH old AS (
    DELETE FROM weft_tally WHERE minute < %(before)s AND minute > %(epoch)s RETURNING skill, kind, value, n
)
INSERT INTO weft_tally (minute, skill, kind, value, shard, n)
SELECT %(epoch)s, skill, kind, value, 0, sum(n) FROM old WHERE kind <> 'queued' GROUP BY skill, kind, value
ON CONFLICT (minute, skill, kind, value, shard) DO UPDATE SET n = weft_tally.n + EXCLUDED.n
"""


def fold(now: datetime | None = None) -> int:
    """Fold the minutes older than KEEP_MINUTES into the epoch's totals (backlog samples are dropped); one
    statement, reading the old minutes by the unique index's leading column. Returns how many rows went."""
    before = (now or timezone.now()) - timedelta(minutes=KEEP_MINUTES)
    if connection.vendor != "postgresql":  # the demo's SQLite: the same, in a few statements
        with transaction.atomic():
            old = Tally.objects.filter(minute__lt=before, minute__gt=EPOCH)
            sums = list(old.exclude(kind="queued").values("skill", "kind", "value").annotate(total=Sum("n"))
                        .order_by())
            gone = old.delete()[0]
            for r in sums:
                row, _ = Tally.objects.get_or_create(minute=EPOCH, skill=r["skill"], kind=r["kind"],
                                                     value=r["value"], shard=0)
                Tally.objects.filter(pk=row.pk).update(n=F("n") + r["total"])
        return gone
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM weft_tally WHERE minute < %s AND minute > %s", [before, EPOCH])
        gone = int(cursor.fetchone()[0])
        if gone:
            cursor.execute(FOLD, {"before": before, "epoch": EPOCH})
    return gone


def sample_queued(now: datetime | None = None) -> int:
    """This minute's backlog of each skill (queued tasks, read through weft_task_queued_idx), for the
    dashboard's queue depth over the last hour. The minute's last sample wins."""
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    depth = dict(Task.objects.filter(status=TaskStatus.QUEUED).values_list("skill_name").annotate(n=Count("pk"))
                 .order_by())
    seen = set(Tally.objects.filter(minute=minute, kind="queued").values_list("skill", flat=True))
    for skill in seen - set(depth):
        depth[skill] = 0  # drained since the last sample: a zero, not a gap
    for skill, n in depth.items():
        Tally.objects.update_or_create(minute=minute, skill=skill, kind="queued", value="", shard=0,
                                       defaults={"n": n})
    return len(depth)


def upkeep() -> int:
    """The sweep's step: sample each skill's backlog, fold old minutes; how many rows were folded."""
    sample_queued()
    return fold()

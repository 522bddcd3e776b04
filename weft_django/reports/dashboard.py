"""The dashboard's page (views.py): ``overview`` with times as people read them, each recent failure's cause,
and what runs and waits per skill. Bounded reads: the causes are of at most RECENT jobs, two indexed reads each."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .. import charts, units
from ..models import Job, Task
from ..states import TaskStatus
from .activity import overview
from .agents import agents
from .explain import cause
from .metrics import last_hour, metrics_snapshot


def governed_in_use() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Concurrency slots in use per key (with its limit) and the locks held, from the running tasks that hold
    them (few: at most one per worker process; weft_task_governed_idx)."""
    slots: dict[str, dict[str, Any]] = {}
    locks: list[dict[str, Any]] = []
    for pk, job_id, gates, held in Task.objects.filter(status=TaskStatus.RUNNING, governed=True).order_by(
            "pk").values_list("pk", "job_id", "gates", "locks"):
        for key, limit in ((gates or {}).get("concurrency") or {}).items():
            slot = slots.setdefault(key, {"key": key, "limit": limit, "in_use": 0, "tasks": []})
            slot["in_use"] += 1
            slot["tasks"].append(pk)
        locks += [{"lock": name, "task": pk, "job": job_id} for name in held or ()]
    return sorted(slots.values(), key=lambda s: s["key"]), locks


def dashboard() -> dict[str, Any]:
    o = overview()
    now = timezone.now()
    for r in o["running"]:
        r["running_for_text"] = units.seconds(r["running_for"])
        r["lease_left_text"] = units.seconds(r["lease_left"])
    jobs = {j.pk: j for j in Job.objects.filter(pk__in=[f["pk"] for f in o["recent_failures"]])}
    for f in o["recent_failures"]:
        f["cause"] = cause(jobs[f["pk"]]) if f["pk"] in jobs else f["stop_reason"]
        f["finished_ago"] = units.ago((now - f["finished_at"]).total_seconds()) if f["finished_at"] else "-"
    m = metrics_snapshot()
    per_skill: dict[str, dict[str, int]] = {}
    for state in ("queued", "running"):
        for skill, _queue, n in m[state]:
            per_skill.setdefault(skill, {"queued": 0, "running": 0})[state] += n
    o["per_skill"] = [{"skill": k, **v} for k, v in sorted(per_skill.items())]
    o["oldest_queued"] = {q: units.seconds(age) for q, age in sorted(m["oldest_queued_seconds"].items())}
    o["slots"], o["locks"] = governed_in_use()
    o["chart"] = charts.per_skill(last_hour(now))
    o["agents"] = agents()  # beside the workers: the ones outside Celery (docs/agents.md)
    o["updated"] = now
    return o

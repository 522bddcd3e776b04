"""The dashboard's page (views.py): ``overview`` with times as people read them, each recent failure's cause,
and what runs and waits per skill. Bounded reads: the causes are of at most RECENT jobs, two indexed reads each."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .. import units
from ..models import Job
from .activity import overview
from .explain import cause
from .metrics import metrics_snapshot


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
    o["updated"] = now
    return o

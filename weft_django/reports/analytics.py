"""Analytics over a time range (issue 13): per skill, how its tasks ended, how many iterations its loops took
to pass, tokens and cost per job (of the jobs it was submitted in); per model, what its calls used and cost, per
job too. An operator's read over a bounded window (at most MAX_DAYS), by the jobs created in it. A job's tokens
are what counted against its ``max_tokens`` (its model calls and what its loops reported)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, Q, Sum
from django.utils import timezone

from ..exceptions import InvalidInput
from ..models import Iteration, Job, LlmCall, Task

MAX_DAYS = 31


def window(since: Any = None, until: Any = None) -> tuple[datetime, datetime]:
    """``since``/``until`` (aware datetimes or ISO 8601 strings; default: the last 24 hours), checked."""
    end = _moment(until, "until") or timezone.now()
    start = _moment(since, "since") or end - timedelta(days=1)
    if start >= end:
        raise InvalidInput("since", "must be before until")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidInput("since", f"the window may span at most {MAX_DAYS} days")
    return start, end


def _moment(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(field, f"must be an ISO 8601 time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise InvalidInput(field, f"must be a time, got {type(value).__name__}")
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def analytics(since: Any = None, until: Any = None) -> dict[str, Any]:
    start, end = window(since, until)
    jobs = Job.objects.filter(created_at__gte=start, created_at__lt=end)
    skills: dict[str, dict[str, Any]] = {}
    for row in (Task.objects.filter(job__in=jobs, parent__isnull=True).values("skill_name")
                .annotate(tasks=Count("pk"), succeeded=Count("pk", filter=Q(status="succeeded")),
                          failed=Count("pk", filter=Q(status__in=("failed", "cancelled", "skipped"))),
                          jobs=Count("job_id", distinct=True)).order_by("skill_name")):
        ended = row["succeeded"] + row["failed"]
        per_job = jobs.filter(tasks__skill_name=row["skill_name"], tasks__parent__isnull=True).distinct().aggregate(
            tokens=Avg("tokens"), cost=Avg("cost"))
        skills[row["skill_name"]] = {
            "tasks": row["tasks"], "jobs": row["jobs"], "succeeded": row["succeeded"], "failed": row["failed"],
            "success_rate": round(row["succeeded"] / ended, 4) if ended else None,
            "tokens_per_job": round(per_job["tokens"] or 0, 1), "cost_per_job": round(per_job["cost"] or 0, 6)}
    loops = (Iteration.objects.filter(job_id__in=jobs.values("pk"))
             .values("task__skill_name", "task_id")
             .annotate(n=Max("number"), passed=Count("pk", filter=Q(passed=True)), tokens=Sum("tokens"),
                       cost=Sum("cost")))
    per_skill: dict[str, list[dict[str, Any]]] = {}
    for loop in loops:
        per_skill.setdefault(loop["task__skill_name"], []).append(dict(loop))
    for skill, rows in per_skill.items():
        passed = [r["n"] for r in rows if r["passed"]]
        entry = skills.setdefault(skill, {"tasks": len(rows), "jobs": None, "succeeded": None, "failed": None,
                                          "success_rate": None, "tokens_per_job": None, "cost_per_job": None})
        entry["loops"] = {"loops": len(rows), "passed": len(passed),
                          "iterations_to_success": round(sum(passed) / len(passed), 2) if passed else None,
                          "tokens_per_loop": round(sum(r["tokens"] or 0 for r in rows) / len(rows), 1),
                          "cost_per_loop": round(sum(r["cost"] or 0 for r in rows) / len(rows), 6)}
    models = {m["model"]: {"calls": m["calls"], "input_tokens": m["input"] or 0, "output_tokens": m["output"] or 0,
                           "cost": round(m["cost"] or 0.0, 6), "failed_calls": m["failed"],
                           "mean_seconds": round(m["seconds"] or 0.0, 3), "jobs": m["jobs"],
                           "tokens_per_job": round(((m["input"] or 0) + (m["output"] or 0)) / m["jobs"], 1)
                           if m["jobs"] else None,
                           "cost_per_job": round((m["cost"] or 0.0) / m["jobs"], 6) if m["jobs"] else None}
              for m in LlmCall.objects.filter(job_id__in=jobs.values("pk")).values("model")
              .annotate(calls=Count("pk"), input=Sum("input_tokens"), output=Sum("output_tokens"), cost=Sum("cost"),
                        failed=Count("pk", filter=~Q(error="")), seconds=Avg("duration"),
                        jobs=Count("job_id", distinct=True)).order_by("model")}
    totals = jobs.aggregate(jobs=Count("pk"), cost=Sum("cost"), tokens=Sum("tokens"))
    n = totals["jobs"] or 0
    return {"since": start.isoformat(), "until": end.isoformat(), "jobs": n,
            "cost_per_job": round((totals["cost"] or 0.0) / n, 6) if n else None,
            "tokens_per_job": round((totals["tokens"] or 0) / n, 1) if n else None,
            "skills": skills, "models": models}

"""A loop's progress log (loops.py): its iterations, and the line that says where it stands."""

from __future__ import annotations

from typing import Any

from .. import units
from ..models import Iteration

FIELDS = ("number", "of", "summary", "passed", "validation", "tokens", "tokens_limit", "cost", "result")


def iterations(task_id: int) -> list[dict[str, Any]]:
    """Every recorded iteration of the task, in order (what a loop's next iteration reads)."""
    return list(Iteration.objects.filter(task_id=task_id).order_by("number").values(*FIELDS))


def loop_line(last: dict[str, Any], tokens: int) -> str:
    """"iteration 7 of 20: validation failed: 3 tests failing; 41,200 of 100,000 tokens used" """
    said = (last["validation"] or "").strip().splitlines()
    verdict = "validation passed" if last["passed"] else "validation failed" + (f": {said[-1]}" if said else "")
    used = units.tokens(tokens, last["tokens_limit"])
    return f"iteration {last['number']} of {last['of']}: {verdict}; {used}"


def loop_lines(task_ids: list[int]) -> dict[int, str]:
    """The line of each of these tasks that is a loop with a recorded iteration (one query)."""
    last: dict[int, dict[str, Any]] = {}
    tokens: dict[int, int] = {}
    for row in Iteration.objects.filter(task_id__in=task_ids).order_by("task_id", "number").values("task_id", *FIELDS):
        last[row["task_id"]] = row
        tokens[row["task_id"]] = tokens.get(row["task_id"], 0) + row["tokens"]
    return {task_id: loop_line(row, tokens[task_id]) for task_id, row in last.items()}


def job_loops(job_id: int, task_ids: list[int] | None = None) -> dict[str, str]:
    """Where each loop of the job stands, by task key (of ``task_ids`` only, if given); {} for a job without
    loops (one indexed query)."""
    looped = Iteration.objects.filter(job_id=job_id)
    if task_ids is not None:
        looped = looped.filter(task_id__in=task_ids)
    keys = dict(looped.values_list("task_id", "task__key").distinct())
    return {keys[pk]: line for pk, line in sorted(loop_lines(list(keys)).items())}

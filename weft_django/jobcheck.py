"""A job spec checked as a submission checks it, writing nothing: its shape, its graph, its skills (known,
enabled, their params' schema) and the ceilings. Saved templates and batch files are checked here before
anything of them is saved or submitted; policies still decide at submission."""

from __future__ import annotations

from typing import Any

from . import skill_choice
from .jobspec import JobSpec
from .resolve import resolve


def check_job(data: Any) -> JobSpec:
    """``data`` as a JobSpec, or InvalidInput naming the field (``tasks[i].params.x``) that could never run."""
    spec = JobSpec.parse(data)
    paths = [f"tasks[{i}]" for i in range(len(spec.tasks))]
    chosen = skill_choice.choose([(path, task.skill, task.version) for path, task in zip(paths, spec.tasks,
                                                                                          strict=True)])
    for path, task, d in zip(paths, spec.tasks, chosen, strict=True):
        resolve(task, path, None, d)
    skill_choice.check_enabled(list(zip(paths, chosen, strict=True)))
    return spec

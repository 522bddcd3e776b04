"""A job spec checked as a submission checks it, writing nothing: its shape, its graph, its skills (known,
enabled, their params' schema) and the ceilings. Saved templates and batch files are checked here before
anything of them is saved or submitted; policies still decide at submission."""

from __future__ import annotations

from typing import Any

from . import registry
from .jobspec import JobSpec
from .resolve import resolve


def check_job(data: Any) -> JobSpec:
    """``data`` as a JobSpec, or InvalidInput naming the field (``tasks[i].params.x``) that could never run."""
    spec = JobSpec.parse(data)
    paths = [f"tasks[{i}]" for i in range(len(spec.tasks))]
    for path, task in zip(paths, spec.tasks, strict=True):
        resolve(task, path)
    registry.check_enabled([(path, registry.get(task.skill)) for path, task in zip(paths, spec.tasks, strict=True)])
    return spec

"""The operations the commands run beside the work itself: the recovery sweep, retention, the skills' rows.
Part of the Python API (``service`` re-exports them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import registry, retention
from . import sweep as _sweep


def sync_skills() -> tuple[int, int]:
    """Mirror the skills registered in code to their Skill rows; ``(created, updated)``."""
    return registry.sync()


def sweep() -> dict[str, Any]:
    """Run the recovery sweep once (expired leases, undelivered tasks, deadlines, silent workers); its counts."""
    return _sweep.sweep()


def sweep_loop(interval: float, stop: Callable[[], bool], on_run: Callable[[dict[str, Any]], None]) -> None:
    """Sweep every ``interval`` seconds until ``stop()``; ``on_run`` gets each run's counts."""
    _sweep.loop(interval, stop=stop, on_run=on_run)


SWEEP_SCHEDULE = _sweep.SCHEDULE_NAME


def install_sweep_schedule() -> bool:
    """Create or update the django-celery-beat periodic task of the sweep (``SWEEP_SCHEDULE``); False when
    django_celery_beat is not installed."""
    return _sweep.install_schedule()


def prune(*, dry_run: bool = False, max_batches: int | None = None) -> dict[str, int]:
    """Delete finished jobs older than WEFT_RETENTION allows, with their tasks, attempts and decisions; rows
    deleted by kind (with ``dry_run``: the jobs and tasks that would go)."""
    return retention.prune(dry_run=dry_run, max_batches=max_batches)


"""Process titles, so ``ps aux | grep weft-`` shows what each worker process runs."""

from __future__ import annotations

import setproctitle

_base: str | None = None


def show(task_id: int, skill: str, state: str) -> None:
    global _base
    if _base is None:
        _base = setproctitle.getproctitle()
    setproctitle.setproctitle(f"weft-{task_id}:{skill}:{state}")


def reset() -> None:
    if _base is not None:
        setproctitle.setproctitle(_base)

"""(d) The Celery app weft's bench workers run: ``celery -A bench.celery_d worker -Q weft -c 2``.

With BENCH_PROFILE_DIR set, each pool process runs under cProfile from its PROFILE_SKIP-th task on
(the first ones import modules lazily) and writes its stats there every PROFILE_EVERY tasks (a pool
child has no reliable exit hook), for the "where does the time go" report.
"""

from __future__ import annotations

import cProfile
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery, signals

from bench import sqlcount

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_d")
sqlcount.install()

app = Celery("bench_d")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["weft_django"])

PROFILE_SKIP = 20
PROFILE_EVERY = 50
_profile: dict[str, Any] = {}


@signals.worker_process_init.connect
def _start_profile(**kwargs: Any) -> None:
    if os.environ.get("BENCH_PROFILE_DIR"):
        # CPU time: a pool process waiting for work costs nothing.
        _profile.update(profiler=cProfile.Profile(time.process_time), n=-PROFILE_SKIP)


@signals.task_postrun.connect
def _dump_profile(**kwargs: Any) -> None:
    p = _profile.get("profiler")
    if p is None:
        return
    _profile["n"] += 1
    if _profile["n"] == 0:
        p.enable()
    elif _profile["n"] > 0 and _profile["n"] % PROFILE_EVERY == 0:
        p.disable()
        base = Path(os.environ["BENCH_PROFILE_DIR"]) / f"worker-{os.getpid()}"
        p.dump_stats(f"{base}.pstats")
        Path(f"{base}.n").write_text(str(_profile["n"]))
        p.enable()

"""Worker rows: one per Celery worker, kept by its signals and a heartbeat thread in its main process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from .capabilities import required_of
from .conf import seconds, settings
from .models import Worker, WorkerState

logger = logging.getLogger(__name__)


def online(hostname: str, pid: int, queues: Sequence[str]) -> None:
    """The worker started (or restarted under the same name): it is online from now."""
    now = timezone.now()
    Worker.objects.update_or_create(hostname=hostname, defaults={
        "pid": pid, "queues": sorted(queues), "state": WorkerState.ONLINE, "started_at": now, "last_heartbeat": now,
    })


def beat(hostname: str) -> bool:
    """The worker is alive; False if it has no row (then the caller registers it again)."""
    return bool(Worker.objects.filter(hostname=hostname).update(last_heartbeat=Now(), state=WorkerState.ONLINE))


def offline(hostname: str) -> None:
    Worker.objects.filter(hostname=hostname).update(state=WorkerState.OFFLINE)


def live_queues() -> set[str]:
    """The queues some live worker reads: online, with a heartbeat (or start) within WEFT_WORKER_OFFLINE_AFTER.

    The sweep marks a silent worker offline only when it runs; this does not wait for it.
    """
    fresh = Now() - timedelta(seconds=settings.WORKER_OFFLINE_AFTER)
    rows = Worker.objects.filter(Q(last_heartbeat__gte=fresh) | Q(last_heartbeat__isnull=True, started_at__gte=fresh),
                                 state=WorkerState.ONLINE).values_list("queues", flat=True)
    return {str(q) for queues in rows for q in (queues or ())}


def unread(queues: Iterable[str]) -> list[str]:
    """Those of ``queues`` that no live worker reads, sorted."""
    wanted = set(queues)
    return sorted(wanted - live_queues()) if wanted else []


def waiting_reason(queue: str) -> str:
    required = required_of(queue)
    if required:  # a routed queue (capabilities.py): a worker with these labels, or an agent, would take it
        return (f"queued on {queue!r}: no live worker reads it (one started with --capabilities "
                f"{','.join(required)}), and no agent with those capabilities has claimed it")
    return f"queued on {queue!r}: no live worker reads it"


def mark_silent_offline(after: float) -> int:
    """Online workers with no heartbeat for ``after`` seconds are offline (the sweep); returns how many."""
    silent = Q(last_heartbeat__lt=Now() - timedelta(seconds=after)) | Q(
        last_heartbeat__isnull=True, started_at__lt=Now() - timedelta(seconds=after))
    return Worker.objects.filter(silent, state=WorkerState.ONLINE).update(state=WorkerState.OFFLINE)


class Heartbeat:
    """A daemon thread in the worker's main process: keeps its row fresh and its dead pool processes' tasks moving.

    The thread owns its own database connection (Django connections are per thread), so the main
    process never holds one that a forked pool process could inherit.
    """

    def __init__(self, hostname: str, pid: int, queues: Sequence[str],
                 recover_orphans: Callable[[str], object]) -> None:
        # The orphan check (lifecycle.recover.recover_orphans_of) is passed in by the worker: the sweep imports this
        # module (to mark silent workers offline), so this one does not import the sweep.
        self.hostname, self.pid, self.queues = hostname, pid, list(queues)
        self.recover_orphans = recover_orphans
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="weft-worker-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating and mark the worker offline (from the thread, which holds the connection)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        registered = False
        while True:
            try:
                if not registered or not beat(self.hostname):
                    online(self.hostname, self.pid, self.queues)
                registered = True
                # A pool process of ours that died mid-task: recover its task now, not when its lease ends.
                self.recover_orphans(self.hostname)
            except Exception:  # the database is away; the next beat tries again
                logger.warning("weft: worker heartbeat of %s failed", self.hostname, exc_info=True)
                connection.close()
            if self._stop.wait(seconds("HEARTBEAT_INTERVAL")):
                break
        try:
            offline(self.hostname)
        except Exception:
            logger.warning("weft: could not mark worker %s offline", self.hostname, exc_info=True)
        finally:
            connection.close()

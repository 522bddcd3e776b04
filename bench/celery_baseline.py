"""Plain Celery's own recovery on Redis, the column weft's fault tier is compared with (docs/reliability.md).

``python bench/celery_baseline.py`` (broker: ``WEFT_TEST_BROKER_URL``, default redis://127.0.0.1:6379/15).
Not a test of weft, and only Celery's defaults at work, so it left the test suite (it waited about 15 s
to see nothing happen): it measures (1) a SIGKILLed pool process, re-run by Celery itself, and (2) a
SIGKILLed whole worker with a new one started at once, which plain Celery does not re-run within
``WINDOW`` seconds (the message waits in Redis's ``unacked`` hash for the 1 h visibility timeout).
The app (bench/plain_app.py) sets what the Celery docs recommend: acks_late, reject_on_worker_lost, prefetch 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 15.0
SETTLE = 2.0  # Celery notices a pool process that died right after "ready" only on its 5 s timer


def started(client: Any, key: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in client.lrange(key, 0, -1)]


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def plain_worker(log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    argv = [sys.executable, "-m", "celery", "-A", "bench.plain_app", "worker", "-Q", "plain", "-c", "2", "-P",
            "prefork", "-l", "info", "-n", f"plain-{uuid.uuid4().hex[:8]}@%h", "--without-gossip",
            "--without-mingle", "--without-heartbeat"]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait(lambda: proc.poll() is not None or " ready." in log.read_text(errors="replace"), 60, "the worker")
    if proc.poll() is not None:
        raise SystemExit(f"the plain worker exited: see {log}")
    time.sleep(SETTLE)
    return proc


def kill_group(proc: subprocess.Popen[bytes]) -> float:
    at = time.time()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return at


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import redis

    from bench.plain_app import BROKER, PRIORITY_SEP, app

    client = redis.Redis.from_url(BROKER)
    log = Path(tempfile.mkdtemp(prefix="weft-celery-baseline-")) / "worker.log"
    workers: list[subprocess.Popen[bytes]] = []
    keys = [f"plain-starts-{uuid.uuid4().hex}" for _ in range(2)]
    try:
        # (1) pool process SIGKILL mid-task
        workers.append(plain_worker(log))
        app.send_task("plain.sleep", args=(3, keys[0]), queue="plain")
        first = wait(lambda: started(client, keys[0]), 30, "the task to start")[0]
        time.sleep(0.5)
        killed_at = time.time()
        os.kill(first["pid"], signal.SIGKILL)
        second = wait(lambda: started(client, keys[0])[1:], 30, "plain Celery to run the task again")[0]
        print(f"T1 pool process SIGKILL: plain Celery re-run after {second['t'] - killed_at:.2f} s")

        # (2) whole worker SIGKILL, a new worker started at once
        app.send_task("plain.sleep", args=(3, keys[1]), queue="plain")
        wait(lambda: started(client, keys[1]), 30, "the task to start")
        time.sleep(0.5)
        killed_at = kill_group(workers.pop())
        workers.append(plain_worker(log))
        while time.time() < killed_at + WINDOW and len(started(client, keys[1])) < 2:
            time.sleep(0.1)
        again = started(client, keys[1])[1:]
        print("T2 whole worker SIGKILL + new worker: plain Celery re-run after "
              + (f"{again[0]['t'] - killed_at:.2f} s" if again else f"nothing within {WINDOW:g} s"))
    finally:
        for proc in workers:
            kill_group(proc)
        # Not "unacked": other runs may share this Redis database (T2's message stays there, as it would in production).
        client.delete(*keys, "plain", *(f"plain{PRIORITY_SEP}{p}" for p in range(10)))
        client.close()
    print(f"(worker log: {log})")


if __name__ == "__main__":
    main()

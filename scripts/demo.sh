#!/usr/bin/env bash
# The demo, end to end, with no server to install: SQLite and kombu's filesystem broker under ./demo_data
# (or $WEFT_DEMO_DATA). Creates .venv if needed, migrates, creates admin/admin, starts a Celery worker and
# beat in the background (logs in the data folder), and a fake model server on 127.0.0.1 for the agent examples
# (no network, no key), submits demo work, waits for it and prints each job's status, attempts and decisions.
# Stops the worker, beat and the fake model on exit unless --keep is given.
#   bash scripts/demo.sh [--keep]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

keep=0
for arg in "$@"; do
    case "$arg" in
        --keep) keep=1 ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) weft_die "unknown argument $arg (usage: bash scripts/demo.sh [--keep])" ;;
    esac
done

weft_ensure_venv
weft_activate

# The zero-setup settings: no DATABASE_URL, no CELERY_BROKER_URL.
unset DATABASE_URL CELERY_BROKER_URL
export DJANGO_SETTINGS_MODULE=demo_project.settings
export WEFT_DEMO_DATA="${WEFT_DEMO_DATA:-$ROOT/demo_data}"
export PYTHONUNBUFFERED=1
mkdir -p "$WEFT_DEMO_DATA"
DATA="$(cd "$WEFT_DEMO_DATA" && pwd)"
WAIT_SECONDS="${WEFT_DEMO_WAIT:-120}"

weft_log "data folder: $DATA (SQLite database, filesystem broker, logs)"
weft_log "migrating"
python manage.py migrate --noinput -v 0

weft_log "admin user admin/admin (created if missing); skills synced to the Skill table"
DJANGO_SUPERUSER_PASSWORD=admin python manage.py shell --no-imports -c "$(cat <<'PY'
from django.contrib.auth import get_user_model
from django.core.management import call_command
from weft_django import registry
if not get_user_model().objects.filter(username="admin").exists():
    call_command("createsuperuser", interactive=False, username="admin", email="admin@example.com", verbosity=0)
registry.sync()
PY
)"

pids=()
stop_services() {
    local pid end
    [ "${#pids[@]}" -gt 0 ] || return 0
    weft_log "stopping the worker, beat and the fake model (pids ${pids[*]})"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    end=$((SECONDS + 20))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
        # Each was started in a session of its own: its process group holds the pool children too.
        kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
    done
    pids=()
}
if [ "$keep" = 0 ]; then
    trap stop_services EXIT
    trap 'exit 130' INT TERM
fi

# The agent examples' model: a fake OpenAI-compatible server on 127.0.0.1, answering from a script; the worker
# finds it through WEFT_DEMO_LLM_URL (demo_project/settings.py's WEFT_LLM).
rm -f "$DATA/fake_model.port"
fake_model=(python -m weft_django.fake_model --script demo_project/fake_model.json --port-file "$DATA/fake_model.port")
weft_log "starting the fake model server: ${fake_model[*]} (log: $DATA/fake_model.log)"
setsid "${fake_model[@]}" >"$DATA/fake_model.log" 2>&1 </dev/null &
pids+=("$!")
for _ in $(seq 100); do [ -s "$DATA/fake_model.port" ] && break; sleep 0.1; done
[ -s "$DATA/fake_model.port" ] || weft_die "the fake model server did not start (see $DATA/fake_model.log)"
export WEFT_DEMO_LLM_URL="http://127.0.0.1:$(cat "$DATA/fake_model.port")/v1"

if [ -f weft_django/management/commands/weft_worker.py ]; then
    worker=(python manage.py weft_worker --queues weft,celery,reports --concurrency 2 --hostname "weft-demo@%h")
else
    worker=(python -m celery -A demo_project worker -Q weft,celery,reports -c 2 -n "weft-demo@%h")
fi
weft_log "starting the worker: ${worker[*]} (log: $DATA/worker.log)"
setsid "${worker[@]}" >"$DATA/worker.log" 2>&1 </dev/null &
pids+=("$!")
beat=(python -m celery -A demo_project beat -S django_celery_beat.schedulers:DatabaseScheduler -l info --pidfile=)
weft_log "starting beat: ${beat[*]} (log: $DATA/beat.log)"
setsid "${beat[@]}" >"$DATA/beat.log" 2>&1 </dev/null &
pids+=("$!")
# The demo's @task functions (demo/framework_tasks.py) run on weft's worker; with WEFT_DEMO_TASKS_BACKEND=database
# (one setting, demo_project/settings.py) on the framework's database backend and its own worker instead.
if [ "${WEFT_DEMO_TASKS_BACKEND:-weft}" = database ]; then
    db_worker=(python manage.py db_worker --queue-name "*" --interval 0.2)
    weft_log "starting the framework's database worker: ${db_worker[*]} (log: $DATA/db_worker.log)"
    setsid "${db_worker[@]}" >"$DATA/db_worker.log" 2>&1 </dev/null &
    pids+=("$!")
fi

weft_log "submitting demo work and waiting for it (at most $WAIT_SECONDS s)"
status=0
WEFT_DEMO_WAIT_SECONDS="$WAIT_SECONDS" python manage.py shell --no-imports -c "$(cat <<'PY'
import json
import os
import sys
import time

from weft_django import service
from weft_django.exceptions import ResultTimeout
from weft_django.models import Attempt, Decision

WORK = [
    ("demo.greet", {"name": "weft"}),
    ("demo.flaky", {"succeed_on": 3}),
    ("demo.word_count", {"text": "the database is the source of truth and the broker a doorbell"}),
]
jobs = []
for skill, params in WORK:
    job = service.submit(skill, params)
    jobs.append(job)
    print(f"submitted job {job.pk}: {skill} {json.dumps(params)}")
# The agent examples: a loop asking the (fake) model until its answer passes, within a token budget, and a
# three-level Plan -> Spec -> Phase cascade of loops.
for spec in ({"name": "agent: haiku", "tasks": [{"key": "haiku", "skill": "demo.haiku",
                                                  "params": {"topic": "durable tasks"}}],
              "budget": {"max_tokens": 5000, "deadline": 120}},
             {"name": "agent: plan -> spec -> phase", "tasks": [{"key": "plan", "skill": "demo.plan"}],
              "budget": {"max_tokens": 5000}}):
    job = service.submit_job(spec)
    jobs.append(job)
    print(f"submitted job {job.pk}: {spec['name']} (budget {json.dumps(spec['budget'])})")

deadline = time.monotonic() + float(os.environ["WEFT_DEMO_WAIT_SECONDS"])
ok = True
print()
for job in jobs:
    try:
        service.wait(job.pk, timeout=max(0.1, deadline - time.monotonic()))
    except ResultTimeout as exc:
        ok = False
        print(f"still waiting: {exc}")
    s = service.status(job.pk)
    ok = ok and s["status"] == "succeeded"
    print(f"job {s['id']} {s['name']}: {s['status']}" + (f" ({s['stop_reason']})" if s["stop_reason"] else ""))
    if s["status"] == "succeeded":
        print(f"  result: {json.dumps(service.result(job.pk))}")
    if s.get("tokens_used"):
        print(f"  tokens: {s['tokens_used']}")
    for key, line in s.get("loops", {}).items():
        print(f"  loop {key}: {line}")
    for a in Attempt.objects.filter(job_id=job.pk).select_related("task").order_by("task_id", "number"):
        took = f" in {a.duration:.2f} s" if a.duration is not None else ""
        error = f": {a.error_type}: {a.error_message}" if a.error_type else ""
        task = f" of {a.task.key}" if s["total"] > 1 else ""
        print(f"  attempt {a.number}{task} {a.outcome}{took} on {a.worker} pid {a.pid}{error}")
    for d in Decision.objects.filter(job_id=job.pk).select_related("task").order_by("pk"):
        task = f" {d.task.key}" if s["total"] > 1 and d.task else ""
        print(f"  decision{task} {d.action}: {d.reason}")

# Django's Tasks framework: the same calls whichever backend TASKS names (WEFT_DEMO_TASKS_BACKEND).
from django.conf import settings

from demo_project.demo import framework_tasks as tasks

print(f"\nDjango's Tasks framework on {settings.TASKS['default']['BACKEND']}:")
for result in (tasks.word_count.enqueue("Django's Tasks framework, on weft"),
               tasks.monthly_report.enqueue("2026-11", [1.5, 2.5])):
    while not result.is_finished and time.monotonic() < deadline:
        time.sleep(0.2)
        result.refresh()
    ok = ok and result.status == "SUCCESSFUL"
    value = result.return_value if result.status == "SUCCESSFUL" else [e.traceback for e in result.errors]
    print(f"  {result.task.name} {result.id}: {result.status} after {result.attempts} attempt(s): {json.dumps(value)}")
sys.exit(0 if ok else 1)
PY
)" || status=$?

if [ "$status" != 0 ]; then
    echo
    echo "the demo did not finish as expected; the last lines of $DATA/worker.log:"
    tail -n 30 "$DATA/worker.log" || true
fi

run_env=""
[ "$DATA" = "$ROOT/demo_data" ] || run_env="WEFT_DEMO_DATA=$DATA "
if [ -e weft_django/admin.py ] || [ -d weft_django/admin ]; then
    admin_shows="weft's jobs, tasks, attempts, decisions and skills"
else
    admin_shows="users and the beat schedule; weft's own admin pages are not written yet"
fi
cat <<EOF

Open the admin ($admin_shows):
  ${run_env}.venv/bin/python manage.py runserver
  then http://127.0.0.1:8000/admin/ and log in as admin / admin;
  the dashboard is at http://127.0.0.1:8000/weft/, the HTTP API at http://127.0.0.1:8000/api/weft/jobs/
  (its schema at /api/weft/schema/)
EOF
if [ -f weft_django/management/commands/weft_status.py ]; then
    echo "Look at a job from the shell: ${run_env}.venv/bin/python manage.py weft_status ID"
fi
if [ "$keep" = 1 ]; then
    echo "The worker and beat keep running (--keep): stop them with: kill ${pids[*]}"
    if [ -f weft_django/management/commands/weft_run.py ]; then
        echo "Submit more: ${run_env}.venv/bin/python manage.py weft_run demo.greet --param name=you --wait"
    fi
fi
exit "$status"

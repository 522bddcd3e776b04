#!/usr/bin/env bash
# The whole test suite, on this machine or a fresh one: venv + packages, PostgreSQL, Redis and RabbitMQ on loopback,
# then ruff, mypy, the migrations guard, the settings-docs guard and pytest. Extra arguments go to pytest:
#   bash scripts/test.sh                      # everything, on both entries of the matrix below
#   bash scripts/test.sh -k flaky -x          # a subset (the other checks still run)
#   bash scripts/test.sh --tier unit          # one tier: unit, db, workers, faults, browser or install
#   bash scripts/test.sh --matrix py312-dj60  # one entry of the matrix (default: all, one after the other)
# The matrix (docs/compatibility.md): py311-dj52 is Python 3.11 + Django 5.2 in .venv, every check and every
# tier; py312-dj60 is Python 3.12 (or 3.13) + Django 6.0 with Celery and kombu at the pyproject's lower bounds in
# .venv-dj6: the migrations guard, the unit tier and the db and workers tests of the Tasks framework, the
# migrations, the API, the admin, the transitions, batching and execution (everything else runs once, on the
# first entry: both in full no longer fit CI's 30 minutes on this machine). Arguments given to pytest replace an entry's default tiers.
# Tiers are the folders under tests/ (tests/conftest.py marks each test from its folder and fails collection
# when a test needs more than its folder says): unit needs nothing, db PostgreSQL and the broker, workers
# real Celery worker processes, faults workers and servers that get killed, browser Chromium, install a venv.
# Environment: WEFT_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/weft; pytest-django
# creates and drops test_<name>), WEFT_TEST_BROKER_URL (default redis://127.0.0.1:6379/15), WEFT_TEST_AMQP_URL
# (default amqp://guest:guest@127.0.0.1:5672//, the RabbitMQ tests; they use its queue "weft").
# Exits non-zero if any step fails; pytest finding no tests (its exit code 5) is a failure too.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TIERS=(unit db workers faults browser install)
# name|Python versions (the first found wins)|venv|pinned requirements|default pytest arguments
MATRIX=(
    "py311-dj52|3.11|.venv|Django>=5.2,<6.0|"
    "py312-dj60|3.12 3.13|.venv-dj6|Django>=6.0,<6.1 celery==5.7.0 kombu==5.7.0|tests/unit tests/db/test_django_tasks_backend.py tests/db/test_migrations.py tests/db/test_api.py tests/db/test_admin.py tests/db/test_transitions.py tests/db/test_batch.py tests/workers/test_django_tasks.py tests/workers/test_execution.py"
)
matrix=all
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --matrix|--matrix=*)
            if [ "$1" = --matrix ]; then matrix="${2:-}"; shift; else matrix="${1#--matrix=}"; fi
            shift
            ;;
        --tier|--tier=*)
            if [ "$1" = --tier ]; then tier="${2:-}"; shift; else tier="${1#--tier=}"; fi
            shift
            if [[ " ${TIERS[*]} " != *" $tier "* ]]; then
                echo "--tier: '$tier' is not one of: ${TIERS[*]}" >&2
                exit 2
            fi
            args+=("tests/$tier")
            ;;
        *) args+=("$1"); shift ;;
    esac
done
set -- "${args[@]+"${args[@]}"}"

# Every entry, one after the other, each in a run of this script of its own; the summary of each.
if [ "$matrix" = all ] && [ -z "${WEFT_MATRIX_ENTRY:-}" ]; then
    started=$SECONDS
    results=() failed=()
    for entry in "${MATRIX[@]}"; do
        name="${entry%%|*}" t0=$SECONDS
        printf '\n==> matrix entry %s\n' "$name"
        if WEFT_MATRIX_ENTRY="$name" bash "${BASH_SOURCE[0]}" "$@"; then
            results+=("$name ok ($((SECONDS - t0)) s)")
        else
            results+=("$name FAILED ($((SECONDS - t0)) s)") failed+=("$name")
        fi
    done
    echo
    echo "scripts/test.sh matrix ($((SECONDS - started)) s in all):"
    printf '  %s\n' "${results[@]}"
    [ "${#failed[@]}" = 0 ] || { echo "FAILED: ${failed[*]}"; exit 1; }
    exit 0
fi
entry_name="${WEFT_MATRIX_ENTRY:-$matrix}" entry=""
for candidate in "${MATRIX[@]}"; do
    [ "${candidate%%|*}" = "$entry_name" ] && entry="$candidate"
done
if [ -z "$entry" ]; then
    echo "--matrix: '$entry_name' is not one of: all $(printf '%s ' "${MATRIX[@]%%|*}")" >&2
    exit 2
fi
IFS='|' read -r entry_name WEFT_PYTHON_VERSIONS venv WEFT_PINS entry_tests <<<"$entry"
export WEFT_PYTHON_VERSIONS WEFT_PINS WEFT_VENV="$ROOT/$venv"
first_entry=0
[ "$entry_name" = "${MATRIX[0]%%|*}" ] && first_entry=1
if [ $# = 0 ] && [ -n "$entry_tests" ]; then
    read -r -a default_tests <<<"$entry_tests"
    set -- "${default_tests[@]}"
fi
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh
# shellcheck source=scripts/services.sh
source scripts/services.sh

export WEFT_TEST_DATABASE_URL="${WEFT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/weft}"
export WEFT_TEST_BROKER_URL="${WEFT_TEST_BROKER_URL:-redis://127.0.0.1:6379/15}"
export WEFT_TEST_AMQP_URL="${WEFT_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672//}"
export PYTHONDONTWRITEBYTECODE=1

started=$SECONDS
weft_ensure_venv
weft_activate
weft_ensure_test_tools
weft_ensure_postgres "$WEFT_TEST_DATABASE_URL"
weft_ensure_redis "$WEFT_TEST_BROKER_URL"
weft_ensure_rabbitmq "$WEFT_TEST_AMQP_URL"

failed=()
summary=()

# step NAME COMMAND...: run it, time it, remember whether it failed; never stop early.
step() {
    local name=$1 t0=$SECONDS rc
    shift
    weft_log "$name: $*"
    "$@"
    rc=$?
    if [ "$rc" = 0 ]; then
        summary+=("$name ok ($((SECONDS - t0)) s)")
    else
        failed+=("$name")
        summary+=("$name FAILED (exit $rc)")
    fi
    return 0
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

mypy_targets=(weft_django demo_project tests)
[ -d bench ] && mypy_targets+=(bench)

weft_log "matrix entry $entry_name: $(python -c 'import sys, django, celery, kombu
print(f"Python {sys.version.split()[0]}, Django {django.__version__}, Celery {celery.__version__}, kombu {kombu.__version__}")')"
# The sources are the same on every entry: the static checks run once, on the first.
if [ "$first_entry" = 1 ]; then
    step ruff python -m ruff check --output-format=concise .
    step mypy python -m mypy "${mypy_targets[@]}"
fi
# Demo settings on a throwaway SQLite file: the guard needs no server and leaves nothing behind.
step migrations env -u DATABASE_URL -u CELERY_BROKER_URL WEFT_DEMO_DATA="$scratch" \
    DJANGO_SETTINGS_MODULE=demo_project.settings python manage.py makemigrations weft --check --dry-run
[ "$first_entry" = 1 ] && step settings-docs python scripts/settings_doc.py --check

pytest_run() {
    python -m pytest "$@"
    local rc=$?
    if [ "$rc" = 5 ]; then
        echo "pytest collected no tests: that counts as a failure" >&2
    fi
    return "$rc"
}
step pytest pytest_run "$@"

echo
echo "scripts/test.sh summary, $entry_name ($((SECONDS - started)) s in all):"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all checks passed"

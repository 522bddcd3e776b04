# Sourced by scripts/test.sh and scripts/demo.sh: logging, apt installs, and the project's .venv.
# shellcheck shell=bash
#
# weft_ensure_venv creates .venv with Python >= 3.11 if it is missing and runs
# `pip install -e ".[postgres,redis,dev]"` into it, but only when pyproject.toml (or the extras, or the pins)
# changed since the last successful install: a hash of both is kept in .venv/.weft-install.
# WEFT_VENV, WEFT_PYTHON_VERSIONS and WEFT_PINS choose another venv, interpreter and pinned packages
# (scripts/test.sh's matrix: .venv-dj6 with Python 3.12, Django 6.0 and Celery at its lower bound).

WEFT_ROOT="${WEFT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
WEFT_VENV="${WEFT_VENV:-$WEFT_ROOT/.venv}"
WEFT_EXTRAS="${WEFT_EXTRAS:-postgres,redis,dev}"
WEFT_PYTHON_VERSIONS="${WEFT_PYTHON_VERSIONS:-3.11 3.12 3.13}"  # the first one found wins
WEFT_PINS="${WEFT_PINS:-}"  # extra requirement specifiers for pip, e.g. "Django>=6.0,<6.1 celery==5.5.0"

weft_log() { printf '==> %s\n' "$*"; }
weft_warn() { printf 'warning: %s\n' "$*" >&2; }
weft_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt-get install PACKAGE... as root, running `apt-get update` once per script run first.
weft_apt_install() {
    command -v apt-get >/dev/null 2>&1 || weft_die "$* missing and there is no apt-get: install $* yourself"
    [ "$(id -u)" = 0 ] || weft_die "$* missing: run as root, or install them yourself (apt-get install $*)"
    local log="${TMPDIR:-/tmp}/weft-apt.log"
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${_WEFT_APT_UPDATED:-}" ]; then
        weft_log "apt-get update"
        apt-get update -q >"$log" 2>&1 || { tail -n 20 "$log" >&2; weft_die "apt-get update failed"; }
        _WEFT_APT_UPDATED=1
    fi
    weft_log "apt-get install -y $*"
    apt-get install -y -q "$@" >"$log" 2>&1 || { tail -n 20 "$log" >&2; weft_die "apt-get install $* failed"; }
}

# The first Python of WEFT_PYTHON_VERSIONS (each >= 3.11) on PATH or under pyenv ($PYTHON wins if set).
# A pyenv shim of a version that is not pyenv's global one fails to run, hence the check by running it.
weft_find_python() {
    local candidate version pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    local candidates=(${PYTHON:-})
    for version in $WEFT_PYTHON_VERSIONS; do
        candidates+=("python$version")
        for candidate in "$pyenv_root"/versions/"$version".*/bin/"python$version"; do
            [ -x "$candidate" ] && candidates+=("$candidate")
        done
    done
    [ -n "${PYTHON:-}" ] || candidates+=(python3)
    for candidate in "${candidates[@]}"; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

weft_ensure_venv() {
    if [ ! -x "$WEFT_VENV/bin/python" ]; then
        local python
        python="$(weft_find_python)" \
            || weft_die "Python ${WEFT_PYTHON_VERSIONS// / or } is needed (set PYTHON=/path/to/python3.x)"
        weft_log "creating $WEFT_VENV with $python ($("$python" -V 2>&1))"
        if ! "$python" -m venv "$WEFT_VENV" >/dev/null 2>&1; then
            # Debian's python3 ships venv/ensurepip as a separate package.
            rm -rf "$WEFT_VENV"
            weft_apt_install python3-venv
            "$python" -m venv "$WEFT_VENV" || weft_die "could not create $WEFT_VENV"
        fi
    fi
    local stamp="$WEFT_VENV/.weft-install" want
    want="$(sha256sum <"$WEFT_ROOT/pyproject.toml" | cut -d' ' -f1) [$WEFT_EXTRAS] $WEFT_PINS"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    weft_log "installing weft_django with [$WEFT_EXTRAS] $WEFT_PINS into $WEFT_VENV (pyproject.toml changed or first run)"
    local pins=()
    read -r -a pins <<<"$WEFT_PINS"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
        "$WEFT_VENV/bin/python" -m pip install --quiet -e "$WEFT_ROOT[$WEFT_EXTRAS]" "${pins[@]}" \
        || weft_die "pip install failed (see above)"
    printf '%s\n' "$want" >"$stamp"
}

# Put the venv first on PATH so that subprocesses (celery workers started by tests) use it.
weft_activate() {
    export VIRTUAL_ENV="$WEFT_VENV"
    export PATH="$WEFT_VENV/bin:$PATH"
}

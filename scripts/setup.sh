#!/usr/bin/env bash
# Idempotent machine set-up for JMedSeg-JT:
#   1. Debian packages: oneDNN (libdnnl-dev), which Jittor's CPU convolutions need to be fast, OpenMPI
#      (openmpi-bin, libopenmpi-dev) for multi-process training and its tests, and Chromium for the web
#      demo's browser test (JMEDSEG_BROWSER=0 leaves it out);
#   2. a virtual environment at a stable path outside the clone ($JMEDSEG_VENV, default ~/.venvs/jmedseg-jt),
#      because Jittor's compile cache is keyed by the install path: a venv inside each fresh clone would
#      recompile Jittor's core and every kernel every time;
#   3. the pinned Python packages (requirements.txt; plus requirements-torch.txt when JMEDSEG_TORCH=1),
#      reinstalled only when those files change, and this clone itself, installed in editable mode
#      (`pip install -e .`; redone when the venv points at another clone);
#   4. Jittor itself: oneDNN linked into its cache, core compiled (3-4 minutes the first time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${JMEDSEG_VENV:-$HOME/.venvs/jmedseg-jt}"
PYTHON="${PYTHON:-python3}"
say() { printf '[setup] %s\n' "$*"; }

# 1. Debian packages --------------------------------------------------------------------------------------
# apt_packages WHAT-IT-IS-FOR WITHOUT-IT PACKAGE...: installs the missing packages with apt-get (as root, or
# with password-less sudo), or says what is missing and what does not work without it.
apt_packages() {
    local what="$1" without="$2" missing=()
    shift 2
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if ! command -v apt-get >/dev/null 2>&1; then
        say "warning: no apt-get here; install $what (${missing[*]}) yourself, or $without"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            say "warning: ${missing[*]} ($what) not installed and this user cannot install them (needs root);"
            say "         $without. Ask for: apt-get install ${missing[*]}"
            return 0
        fi
    fi
    say "installing ${missing[*]} ($what) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
        || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } \
        || say "warning: apt-get could not install ${missing[*]}; $without"
}

apt_packages "oneDNN, for fast CPU convolutions" "Jittor will run without oneDNN (convolutions ~75x slower)" \
    libdnnl-dev
apt_packages "OpenMPI, for multi-process training and its tests" "mpirun training and tests/mpi are unavailable" \
    openmpi-bin libopenmpi-dev
if [ "${JMEDSEG_BROWSER:-1}" = 1 ]; then  # JMEDSEG_BROWSER=0 skips it (a large package)
    apt_packages "Chromium, for the web demo's browser test" "tests/web/test_browser.py is skipped" chromium
fi

# 2. virtual environment ------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi

# 3. Python packages ----------------------------------------------------------------------------------------
REQS=("$ROOT/requirements.txt")
if [ "${JMEDSEG_TORCH:-0}" = 1 ]; then REQS+=("$ROOT/requirements-torch.txt"); fi
WANT="$(cat "${REQS[@]}" | sha256sum | cut -d' ' -f1)"
STAMP="$VENV/.jmedseg-requirements"
if ! grep -qx "$WANT" "$STAMP" 2>/dev/null; then
    say "installing Python packages (${REQS[*]##*/})"
    ARGS=()
    for r in "${REQS[@]}"; do ARGS+=(-r "$r"); done
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${ARGS[@]}"
    echo "$WANT" >> "$STAMP"
fi

# The project itself, editable: imports resolve to this clone from any folder (tests, scripts, subprocesses).
# The venv is shared by every clone, so the install is redone whenever it points elsewhere.
INSTALLED="$(cd / && "$VENV/bin/python" -c 'import os, run; print(os.path.dirname(os.path.abspath(run.__file__)))' 2>/dev/null || true)"
if [ "$INSTALLED" != "$ROOT" ]; then
    say "installing this clone in editable mode (pip install -e $ROOT)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
        --config-settings editable_mode=compat -e "$ROOT"
fi

# 4. Jittor: oneDNN link and core build (cached under ~/.cache/jittor) -----------------------------------------
cd "$ROOT"
"$VENV/bin/python" -c "from utils import runtime; runtime.prepare()"

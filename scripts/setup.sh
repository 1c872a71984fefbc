#!/usr/bin/env bash
# Idempotent machine set-up for JMedSeg-JT:
#   1. Debian's oneDNN (libdnnl-dev), which Jittor's CPU convolutions need to be fast;
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

# 1. oneDNN ---------------------------------------------------------------------------------------------
if dpkg -s libdnnl-dev >/dev/null 2>&1; then
    :
elif command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
    fi
    if [ "$SUDO" = none ]; then
        say "warning: libdnnl-dev is not installed and this user cannot install it (needs root);"
        say "         Jittor will run without oneDNN (convolutions ~75x slower). Ask for: apt-get install libdnnl-dev"
    else
        say "installing libdnnl-dev (oneDNN) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get install -y -q libdnnl-dev >/dev/null 2>&1 \
            || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q libdnnl-dev >/dev/null 2>&1; } \
            || say "warning: apt-get could not install libdnnl-dev; Jittor will run without oneDNN (slow convolutions)"
    fi
else
    say "warning: no apt-get here; install oneDNN 2.x so that /usr/include/oneapi/dnnl and libdnnl.so.2 exist,"
    say "         or Jittor will run without oneDNN (convolutions ~75x slower)"
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

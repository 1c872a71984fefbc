#!/usr/bin/env bash
# The GPU check (`make gpu-check`): on a machine with CUDA, in one command and a few minutes,
#   1. the tests marked `cuda` (tests/cuda): every registered model's forward and backward on the GPU with its
#      outputs against the CPU's, a two-epoch demo train + test with --cuda, two MPI ranks when there are two GPUs;
#   2. bench/compare_torch.py --cuda: UNet training step and inference, Jittor against PyTorch on the GPU.
# Writes bench/results/gpu_check.md (the test summary and the timing table) and exits non-zero when a step fails.
# Without CUDA it stops at once with an error line. Variables: PYTHON (the interpreter; default the set-up
# venv's), JMEDSEG_GPU_MODELS (a comma-separated subset of models for step 1), GPU_TEST_TIMEOUT (seconds, 360).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-${JMEDSEG_VENV:-$HOME/.venvs/jmedseg-jt}/bin/python}
[ -x "$PY" ] || PY=python3
OUT=bench/results/gpu_check.md
mkdir -p bench/results

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "error: gpu-check needs an NVIDIA GPU and driver (nvidia-smi found none); run it on a CUDA machine" >&2
    exit 2
fi
if ! "$PY" -c "from utils import runtime; runtime.init(cuda=True)" >/dev/null 2>/tmp/gpu_check_init.$$; then
    echo "error: Jittor cannot use CUDA here: $(tail -n 1 /tmp/gpu_check_init.$$)" >&2
    rm -f /tmp/gpu_check_init.$$
    exit 2
fi
rm -f /tmp/gpu_check_init.$$

status=0
{
    echo "# GPU check"
    echo
    echo "$(nvidia-smi -L | head -n 4)"
    echo
    echo '```'
} > "$OUT"
JMEDSEG_TEST_CUDA=1 timeout "${GPU_TEST_TIMEOUT:-360}" "$PY" -m pytest -q -m cuda tests/cuda 2>&1 | tee /dev/stderr \
    | tail -n 15 >> "$OUT" || status=1
echo '```' >> "$OUT"
echo >> "$OUT"
timeout 180 "$PY" bench/compare_torch.py --cuda --repeats 10 --out "$OUT.timing" || status=1
[ -f "$OUT.timing" ] && cat "$OUT.timing" >> "$OUT" && rm -f "$OUT.timing"
echo "gpu-check: wrote $OUT ($([ $status = 0 ] && echo passed || echo FAILED))"
exit $status

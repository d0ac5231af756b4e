#!/usr/bin/env bash
# xpnet's GPU path checked in one call: tests, parity, one MNIST epoch and the quick benchmark on the GPU,
# with every log and table in one dated folder under bench/results/. See README.md, "Checking a GPU".
#   bash bench/gpu_check.sh [--data DIR] [--results-dir DIR] [--skip STEP]...
# It runs this checkout's xpnet, installed or not (its root goes first on PYTHONPATH), and its steps run in
# the checkout's root; relative paths given to it are taken from where it was started. PYTHON picks the
# interpreter (default python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m bench.gpu_check "$@"

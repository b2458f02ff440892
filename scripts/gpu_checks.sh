#!/usr/bin/env bash
# The CUDA checks and benchmarks, as one script for a machine with a GPU (what CI and CPU-only
# machines cannot run). From the repository root, with a python3 that has torch with CUDA,
# pytest, and g++/ninja/nvcc for the native backend's kernels (the framework itself needs only
# torch and numpy for these; nothing is installed by this script):
#
#     OUT=gpu-checks bash scripts/gpu_checks.sh
#
# Writes every log and result under $OUT (default gpu-checks/):
#   tests.log          the CUDA tests: the native CUDA kernels against eager (float64 1e-10,
#                      float32 1e-5, gradients), every backend and the mLSTM's chunkwise
#                      path on CUDA tensors
#   bench-lstm.log     lstm at hidden 650, batch 64: script and native against cuDNN (issue
#                      target: native within 1.5x)
#   bench-mlstm.log    the mLSTM's chunkwise path against its step loop and cuDNN's LSTM
#   scan_vs_loop.*     minGRU at T = 1024: the scan path against the step loop (issue target:
#                      the scan at least 10x the loop)
# Exits 2 where there is no CUDA device; otherwise runs every part and exits 1 if any failed.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-gpu-checks}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if ! "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_checks: error: no CUDA device here (torch.cuda.is_available() is False)" >&2
  exit 2
fi
"$py" - <<'EOF' | tee "$out/device.txt"
import shutil, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
print("nvcc", shutil.which("nvcc"), "g++", shutil.which("g++"), "ninja", shutil.which("ninja"))
EOF

failed=0
step() {  # name, command...: run it, keep its log, note a failure and go on
  local name=$1; shift
  echo "== $name: $*"
  if ! "$@" >"$out/$name.log" 2>&1; then
    echo "   FAILED (see $out/$name.log)"; failed=1
  fi
  tail -n 15 "$out/$name.log"
}

step tests "$py" -m pytest -q -p no:cacheprovider \
  tests/compile/test_compile_native_cuda.py tests/compile/test_compile_backends.py \
  tests/compile/test_compile_bench.py tests/compile/test_compile_memory.py \
  -m "integration or not integration" -k cuda
step bench-lstm "$py" -m lstm_search bench --cell lstm --hidden 650 --batch 64 \
  --backends script,native --device cuda --repeats 20
step bench-mlstm "$py" -m lstm_search bench --cell mlstm --hidden 256 --seq 1024 --batch 16 \
  --backends script --device cuda --repeats 5
step scan_vs_loop "$py" benchmarks/scan_vs_loop.py --device cuda --repeats 7 --tag gpu
cp benchmarks/results/scan_vs_loop-*-gpu.* "$out/" 2>/dev/null || true
exit $failed

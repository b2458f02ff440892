#!/usr/bin/env bash
# Set up lstm-search in ./.venv on a fresh machine (and, as root with apt, g++ and ninja
# for the native backend where missing).
#   bash scripts/setup.sh          the library, CLI, Optuna and Ray Tune (extra `ray`)
#   bash scripts/setup.sh --dev    plus test tools, JupyterLab and the notebook kernel
#                                  (extra `dev`: every extra), and (as root, with apt)
#                                  Debian's chromium for the report rendering tests and
#                                  postgresql for the many-machines storage test
# Torch: on a machine without CUDA the CPU build is installed first, so that pip never pulls a
# multi-GB CUDA build through the `torch` requirement. Set LSTM_SEARCH_TORCH to choose another
# torch requirement (e.g. "torch==2.13.0" or "torch" on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "setup.sh: unknown option $arg (known: --dev)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

torch_req=${LSTM_SEARCH_TORCH:-torch==2.13.0}
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing $torch_req"
  "${pip[@]}" install "$torch_req"
fi

if [ "$dev" = 1 ]; then
  echo "setup: installing lstm-search with the dev extras"
  "${pip[@]}" install -e ".[dev]"
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing chromium (report rendering tests)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
      >/dev/null) || echo "setup: chromium could not be installed; browser tests will skip"
  fi
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
      && command -v apt-get >/dev/null; then
    echo "setup: installing postgresql (the many-machines storage test)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql \
      >/dev/null) || echo "setup: postgresql could not be installed; its test will skip"
  fi
else
  echo "setup: installing lstm-search (with Ray Tune)"
  "${pip[@]}" install -e ".[ray]"
fi

# the native backend builds C++ with g++ and ninja (Debian packages); without them it falls
# back to the script backend with a warning, and its tests skip
if ! command -v g++ >/dev/null || ! command -v ninja >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing g++ and ninja (the native backend)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ \
      ninja-build >/dev/null) || echo "setup: g++/ninja could not be installed; the native backend will fall back to script"
  else
    echo "setup: note: g++ or ninja is missing; the native backend will fall back to script" >&2
  fi
fi

if .venv/bin/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then
  if ! .venv/bin/python -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "setup: warning: nvidia-* packages were installed on a machine without CUDA" >&2
  fi
fi
echo "setup: done ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"

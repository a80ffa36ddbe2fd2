#!/usr/bin/env bash
# Set up Ponder in a virtual environment (default .venv) from this checkout.
#
# llama-cpp-python is compiled from source. By default it is built for any x86-64 CPU with
# AVX2/AVX-512 but without -march=native (a native build dies with SIGILL on machines whose
# VM hides AMX). Set CMAKE_ARGS yourself for GPU builds, e.g.
#   CMAKE_ARGS="-DGGML_CUDA=on"  |  CMAKE_ARGS="-DGGML_METAL=on"  |  CMAKE_ARGS="-DGGML_VULKAN=on"
# The built wheel is cached in $PONDER_WHEEL_CACHE (default ~/.cache/ponder-wheels), keyed by
# version and build flags, so later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${PONDER_VENV:-.venv}
LLAMA_VERSION=${LLAMA_CPP_VERSION:-0.3.36}
WHEEL_CACHE=${PONDER_WHEEL_CACHE:-$HOME/.cache/ponder-wheels}
DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
case "$(uname -s)-$(uname -m)" in
  Darwin-*) DEFAULT_CMAKE_ARGS="-DGGML_METAL=on" ;;
  *-aarch64|*-arm64) DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=OFF" ;;
esac
export CMAKE_ARGS=${CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}
EXTRAS=${PONDER_EXTRAS:-dev}

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Ponder needs Python 3.11 or newer")'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip wheel

flags_key=$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)
wheel_dir="$WHEEL_CACHE/llama-cpp-python-$LLAMA_VERSION-$flags_key"
if ! ls "$wheel_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_VERSION (CMAKE_ARGS=$CMAKE_ARGS); this takes about 10 minutes once…"
  mkdir -p "$wheel_dir.tmp"
  "$VENV/bin/python" -m pip wheel --no-cache-dir --no-deps -w "$wheel_dir.tmp" "llama-cpp-python==$LLAMA_VERSION"
  rm -rf "$wheel_dir" && mv "$wheel_dir.tmp" "$wheel_dir"
fi
"$VENV/bin/python" -m pip install --quiet "$wheel_dir"/llama_cpp_python-*.whl
"$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
# The window's Qt xcb plugin needs system libraries pip cannot install: name the fix now
# rather than let the first `ponder` abort (the terminal commands work without them).
if [ "$(uname -s)" = Linux ] && ! "$VENV/bin/python" -m ui.platform_check >/dev/null 2>&1; then
  echo
  "$VENV/bin/python" -m ui.platform_check || true
  echo
fi
echo "Ponder is installed in $VENV — run: $VENV/bin/ponder"

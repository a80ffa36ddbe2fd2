#!/usr/bin/env bash
# Set up Ponder in a virtual environment (default .venv) from this checkout.
#
# llama-cpp-python is compiled from source with only what Ponder uses: llama.cpp's core
# library, without its multimodal library (mtmd), its "common" helpers and their HTTP client
# (-DLLAVA_BUILD=OFF and scripts/llama_core_only.cmake). By default it is built for any x86-64
# CPU with AVX2 but without -march=native (a native build dies with SIGILL on machines whose
# VM hides AMX). Set CMAKE_ARGS yourself for GPU builds, e.g.
#   CMAKE_ARGS="-DGGML_CUDA=on"  |  CMAKE_ARGS="-DGGML_METAL=on"  |  CMAKE_ARGS="-DGGML_VULKAN=on"
# The built wheel is cached in $PONDER_WHEEL_CACHE (default ~/.cache/ponder-wheels), keyed by
# version and build flags, so later installs take seconds.
#
# PONDER_LLAMA_INDEX: a package index ("simple" URL) with prebuilt llama-cpp-python wheels; a
# wheel there that matches this platform is installed instead, else the source build runs.
# pip's output goes to a log file (PONDER_BUILD_LOG, default a new file in $TMPDIR), named with
# its last lines if a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${PONDER_VENV:-.venv}
LLAMA_VERSION=${LLAMA_CPP_VERSION:-0.3.36}
WHEEL_CACHE=${PONDER_WHEEL_CACHE:-$HOME/.cache/ponder-wheels}
LLAMA_INDEX=${PONDER_LLAMA_INDEX:-}
BUILD_TIME="about 6 minutes on 2 idle cores, once"  # measured: docs/benchmarks.md, "Install"
DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
case "$(uname -s)-$(uname -m)" in
  Darwin-*) DEFAULT_CMAKE_ARGS="-DGGML_METAL=on" ;;
  *-aarch64|*-arm64) DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=OFF" ;;
esac
CMAKE_ARGS=${CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}
# Left out of the build (yours come after, so e.g. -DLLAVA_BUILD=ON in CMAKE_ARGS wins).
CORE_ONLY="-DLLAVA_BUILD=OFF '-DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/llama_core_only.cmake'"
EXTRAS=${PONDER_EXTRAS:-dev}

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Ponder needs Python 3.11 or newer")'
BUILD_LOG=${PONDER_BUILD_LOG:-$(mktemp "${TMPDIR:-/tmp}/ponder-install.XXXXXX")}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
quietly() {  # quietly TITLE [NOTE] -- COMMAND…: run it with a progress line, its output in the log
  local title=$1 note=""
  shift
  [ "$1" = -- ] || { note=$1; shift; }
  "$PY" scripts/progress.py --log "$BUILD_LOG" --title "$title" --note "$note" "$@"
}
quietly "Updating pip" -- "$PY" -m pip install --upgrade pip wheel

# A prebuilt wheel from PONDER_LLAMA_INDEX, if one there matches this platform.
llama_wheel=""
if [ -n "$LLAMA_INDEX" ]; then
  index_dir=$(mktemp -d "${TMPDIR:-/tmp}/ponder-llama-index.XXXXXX")
  if "$PY" -m pip download --no-deps --only-binary :all: --retries 1 --timeout 15 \
       --index-url "$LLAMA_INDEX" -d "$index_dir" "llama-cpp-python==$LLAMA_VERSION" \
       >>"$BUILD_LOG" 2>&1 && ls "$index_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    llama_wheel=$(ls "$index_dir"/llama_cpp_python-*.whl)
    echo "Using the prebuilt $(basename "$llama_wheel") from $LLAMA_INDEX"
  else
    echo "No llama-cpp-python $LLAMA_VERSION wheel for this platform at $LLAMA_INDEX (or it could not be reached): building from source instead"
  fi
fi

# Else the wheel built from source: cached by version and flags, built once.
if [ -z "$llama_wheel" ]; then
  flags_key=$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)
  wheel_dir="$WHEEL_CACHE/llama-cpp-python-$LLAMA_VERSION-core-$flags_key"
  # (A full build cached by an older install.sh is not reused: what CI tests is what runs.)
  if ls "$wheel_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    llama_wheel=$(ls "$wheel_dir"/llama_cpp_python-*.whl)
    echo "Using llama-cpp-python $LLAMA_VERSION built before ($wheel_dir)"
  fi
fi
if [ -z "$llama_wheel" ]; then
  echo "Compiling llama-cpp-python $LLAMA_VERSION (CMAKE_ARGS=$CMAKE_ARGS)"
  rm -rf "$wheel_dir.tmp" && mkdir -p "$wheel_dir.tmp"
  CMAKE_ARGS="$CORE_ONLY $CMAKE_ARGS" quietly "Building llama.cpp" "$BUILD_TIME" -- \
    "$PY" -m pip wheel -v --no-cache-dir --no-deps -w "$wheel_dir.tmp" "llama-cpp-python==$LLAMA_VERSION"
  rm -rf "$wheel_dir" && mv "$wheel_dir.tmp" "$wheel_dir"
  llama_wheel=$(ls "$wheel_dir"/llama_cpp_python-*.whl)
fi
quietly "Installing llama-cpp-python" -- "$PY" -m pip install "$llama_wheel"
[ -z "$LLAMA_INDEX" ] || rm -rf "$index_dir"
quietly "Installing Ponder and its dependencies" -- "$PY" -m pip install -e ".[$EXTRAS]"
# The window's Qt xcb plugin needs system libraries pip cannot install: name the fix now
# rather than let the first `ponder` abort (the terminal commands work without them).
if [ "$(uname -s)" = Linux ] && ! "$PY" -m ui.platform_check >/dev/null 2>&1; then
  echo
  "$PY" -m ui.platform_check || true
  echo
fi
[ -n "${PONDER_BUILD_LOG:-}" ] || rm -f "$BUILD_LOG"  # all went well: the log is not needed
echo "Ponder is installed in $VENV — run: $VENV/bin/ponder"

#!/usr/bin/env bash
# Build the one-folder bundle of Ponder with PyInstaller, then smoke-test the FROZEN app.
#
#   PONDER_VENV=.venv bash scripts/build_bundle.sh
#
# Uses the app as installed in $PONDER_VENV (default .venv, by scripts/install.sh: its
# llama.cpp build is the one that gets bundled) and installs PyInstaller there if missing.
# Output: Linux dist/ponder/ (run dist/ponder/ponder), Windows dist/ponder/ (Ponder.exe,
# ponder-cli.exe), macOS dist/Ponder.app. The smoke test is tests/e2e/test_frozen_bundle.py:
# the window offscreen, a real generation with the SmolLM2 test model (the engine worker is a
# second process started from the frozen executable), the history, the model catalogue and
# the OpenAI-compatible server. Any failure exits non-zero.
#
#   PONDER_SMOKE_GPU_LAYERS=0   run the smoke-test generations on the CPU
#   PONDER_SKIP_BUILD=1         smoke-test the bundle already in dist/
#   PONDER_SMOKE_TEST=0         build only (a CUDA bundle on a machine without an NVIDIA driver)
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

VENV=${PONDER_VENV:-.venv}
case "$(uname -s)" in
  MINGW* | MSYS* | CYGWIN*) PY="$VENV/Scripts/python.exe" BINARY=dist/ponder/ponder-cli.exe ;;
  Darwin) PY="$VENV/bin/python" BINARY=dist/Ponder.app/Contents/MacOS/ponder ;;
  *) PY="$VENV/bin/python" BINARY=dist/ponder/ponder ;;
esac
[ -x "$PY" ] || { echo "no Python at $PY: run scripts/install.sh first" >&2; exit 1; }

if [ "${PONDER_SKIP_BUILD:-0}" != 1 ]; then
  if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "== installing PyInstaller into $VENV"
    "$PY" -m pip install --quiet "pyinstaller>=6.10"
  fi
  echo "== building the bundle (PyInstaller $("$PY" -m PyInstaller --version))"
  start=$SECONDS
  rm -rf dist/ponder dist/Ponder.app
  "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/ponder.spec
  echo "built in $((SECONDS - start)) s"
fi

[ -x "$BINARY" ] || { echo "the bundle has no $BINARY" >&2; exit 1; }
bundle_dir=dist/ponder
[ "$(uname -s)" = Darwin ] && bundle_dir=dist/Ponder.app
size=$(du -sk "$bundle_dir" | cut -f1)
files=$(find "$bundle_dir" -type f | wc -l | tr -d ' ')
echo "bundle: $bundle_dir, $((size / 1024)) MiB in $files files"

if [ "${PONDER_SMOKE_TEST:-1}" = 0 ]; then
  echo "== smoke test skipped (PONDER_SMOKE_TEST=0)"
  exit 0
fi
echo "== smoke test of the frozen app ($BINARY)"
"$PY" tests/support/test_model.py >/dev/null  # the SmolLM2 GGUF, fetched once and cached
# A path relative to this folder: Python on Windows cannot read Git Bash's /c/… paths.
PONDER_BUNDLE="$BINARY" QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen} \
  "$PY" -m pytest tests/e2e/test_frozen_bundle.py -v -s -p no:cacheprovider

#!/usr/bin/env bash
# Run the whole test suite (unit, integration with the real SmolLM2 GGUF, GUI offscreen).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PONDER_VENV:-.venv}
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
"$VENV/bin/python" tests/support/test_model.py >/dev/null
exec "$VENV/bin/python" -m pytest "$@"

#!/usr/bin/env bash
# The README's test command: set up, then run the whole test suite (slow tier included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"

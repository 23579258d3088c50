#!/usr/bin/env bash
# Run the seed examples and write their real printed output and figures into docs/generated/.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python scripts/docs_examples.py "$@"

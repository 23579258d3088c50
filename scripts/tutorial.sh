#!/usr/bin/env bash
# The README's main job: the seed tutorial (softmax regression on scikit-learn's digits).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python examples/tutorial.py "$@"

#!/usr/bin/env bash
# The README's test command: set up, then run the whole test suite (slow tier included), then
# Gen.jl's tutorials ported literally (../shared/acceptance), as CI does. With arguments, only
# the project's suite runs, with those pytest arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
[ $# -eq 0 ] || exit 0
if [ -d ../shared/acceptance ]; then
  .venv/bin/python -m pytest -q -p no:cacheprovider ../shared/acceptance
elif [ -n "${CI:-}" ]; then
  echo "scripts/test.sh: ../shared/acceptance is missing; CI must run it" >&2
  exit 1
else
  echo "scripts/test.sh: no ../shared/acceptance beside the checkout: Gen.jl's tutorials not run" >&2
fi

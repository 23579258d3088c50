#!/usr/bin/env bash
# Build the documentation site into site/ (MkDocs + mkdocstrings; warnings are errors).
#   bash scripts/docs.sh            build site/
#   bash scripts/docs.sh serve      preview at http://127.0.0.1:8000 with live reload
# The worked-example pages include outputs committed under docs/generated/; regenerate them
# by running the examples with `bash scripts/docs_examples.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[docs]"
export TF_CPP_MIN_LOG_LEVEL=2 NO_MKDOCS_2_WARNING=1
if [ "${1:-}" = "serve" ]; then
    exec .venv/bin/mkdocs serve
fi
.venv/bin/mkdocs build --strict --site-dir site "$@"
echo "docs: site/index.html"

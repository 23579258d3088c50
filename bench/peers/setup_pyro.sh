#!/usr/bin/env bash
# Build the Pyro venv used by bench/vae.py OUTSIDE the repo: $GENTF_PEERS_DIR/pyro
# (Python 3.11, CPU torch pinned to the +cpu wheel: a plain `torch` pulls the CUDA build).
# GENTF_PEERS_DIR defaults to ~/.cache/gentf-peers. Usage: bash bench/peers/setup_pyro.sh
set -euo pipefail
DIR="${GENTF_PEERS_DIR:-$HOME/.cache/gentf-peers}"
PY311="${GENTF_PY311:-/root/.pyenv/versions/3.11.7/bin/python}"
TORCH="${GENTF_TORCH:-torch==2.13.0+cpu}"
mkdir -p "$DIR"
start=$SECONDS
echo "== pyro: $PY311 -m venv $DIR/pyro; pip install $TORCH pyro-ppl==1.9.*"
"$PY311" -m venv "$DIR/pyro"
"$DIR/pyro/bin/python" -m pip install -q "$TORCH" "pyro-ppl==1.9.*"
"$DIR/pyro/bin/python" -c "import torch, pyro; print('== pyro', pyro.__version__, 'torch', torch.__version__)"
echo "== pyro built in $((SECONDS - start)) s"

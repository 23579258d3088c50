#!/usr/bin/env bash
# Build the peer-library venvs used by bench/curve_fit.py --peers, OUTSIDE the repo:
#   $GENTF_PEERS_DIR/genjax   (Python 3.12, GenJAX 1.0.x needs >= 3.12)
#   $GENTF_PEERS_DIR/numpyro  (Python 3.11)
# GENTF_PEERS_DIR defaults to ~/.cache/gentf-peers. Usage: bash bench/peers/setup_peers.sh [genjax] [numpyro]
set -euo pipefail
DIR="${GENTF_PEERS_DIR:-$HOME/.cache/gentf-peers}"
PY312="${GENTF_PY312:-/root/.pyenv/versions/3.12.1/bin/python}"
PY311="${GENTF_PY311:-/root/.pyenv/versions/3.11.7/bin/python}"
mkdir -p "$DIR"

build() {  # build NAME PYTHON PACKAGES...
  local name=$1 py=$2; shift 2
  local start=$SECONDS
  echo "== $name: $py -m venv $DIR/$name; pip install $*"
  "$py" -m venv "$DIR/$name"
  "$DIR/$name/bin/python" -m pip install -q --upgrade pip
  "$DIR/$name/bin/python" -m pip install -q "$@"
  echo "== $name built in $((SECONDS - start)) s"
}

targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(genjax numpyro)
for t in "${targets[@]}"; do
  case $t in
    genjax)  build genjax "$PY312" "genjax==1.0.*" ;;
    numpyro) build numpyro "$PY311" numpyro jax ;;
    *) echo "unknown peer $t" >&2; exit 2 ;;
  esac
done

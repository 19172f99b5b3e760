#!/usr/bin/env bash
# Sets everything up and starts JupyterLab with pennlayer on its embedded default store,
# with a demo environment and a demo reference layer. Extra arguments go to `jupyter lab`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"

jupyter pennlayer create demo-env --kind environment --exist-ok \
  --description "Demo environment: a small Python stack to try the environment picker."
jupyter pennlayer create demo-reference --kind reference --exist-ok \
  --description "Demo reference layer: a small lookup table, shared read-only by every run."
jupyter pennlayer list

args=(--no-browser)
[[ $(id -u) == 0 ]] && args+=(--allow-root)
exec jupyter lab "${args[@]}" "$@"

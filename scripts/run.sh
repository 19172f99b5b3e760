#!/usr/bin/env bash
# Sets everything up and starts JupyterLab with pennlayer on its embedded default store,
# with a demo environment and a demo reference layer, in a workspace folder of its own
# (not this checkout): $PENNLAYER_DEMO_WORKSPACE, by default ~/pennlayer-demo, with a
# welcome notebook (welcome.ipynb) and a data folder the Layers panel may load.
# Extra arguments go to `jupyter lab`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"

# The workspace: JupyterLab's root folder. Files already there are kept as they are.
export PENNLAYER_DEMO_WORKSPACE="${PENNLAYER_DEMO_WORKSPACE:-$HOME/pennlayer-demo}"
mkdir -p "$PENNLAYER_DEMO_WORKSPACE"
WELCOME="$PENNLAYER_DEMO_WORKSPACE/welcome.ipynb"
fresh_welcome=0
[[ -e $WELCOME ]] || fresh_welcome=1
cp -R -n "$ROOT/scripts/demo-workspace/." "$PENNLAYER_DEMO_WORKSPACE/"
# Loaders may read the workspace's data folder and this checkout's demo data.
CONFIG="$ROOT/scripts/demo-config.py"

jupyter pennlayer create demo-env --kind environment --exist-ok \
  --description "Demo environment: a small Python stack to try the environment picker."
if [[ "$(jupyter pennlayer show demo-env --json | python -c 'import json,sys; print(json.load(sys.stdin)["version"])')" == "None" ]]; then
  jupyter pennlayer build demo-env -r scripts/demo-requirements.txt \
    || echo "warning: the demo environment did not build (see above); JupyterLab starts anyway" >&2
fi
jupyter pennlayer create demo-reference --kind reference --exist-ok \
  --description "Demo reference layer: the standard genetic code as a lookup table."
if [[ "$(jupyter pennlayer show demo-reference --json | python -c 'import json,sys; print(json.load(sys.stdin)["version"])')" == "None" ]]; then
  jupyter pennlayer populate demo-reference --source "$ROOT/scripts/demo-data" \
    --config "$CONFIG" \
    || echo "warning: the demo reference layer was not loaded (see above)" >&2
fi
jupyter pennlayer list
# A welcome notebook copied just now gets the metadata its kernel would write on opening
# (the versions it mounts among them), so that it opens unmodified.
if ((fresh_welcome)); then
  python scripts/demo-notebook.py "$WELCOME" \
    || echo "warning: welcome.ipynb was not filled in (it opens marked as changed)" >&2
fi

echo "Workspace: $PENNLAYER_DEMO_WORKSPACE (open welcome.ipynb)"
cd "$PENNLAYER_DEMO_WORKSPACE"
# The same configuration for JupyterLab: the panel may load the demo's folders too.
args=(--no-browser --config "$CONFIG" --ServerApp.root_dir="$PENNLAYER_DEMO_WORKSPACE"
  --LabApp.default_url=/lab/tree/welcome.ipynb)
[[ $(id -u) == 0 ]] && args+=(--allow-root)
exec jupyter lab "${args[@]}" "$@"

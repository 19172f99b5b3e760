#!/usr/bin/env bash
# Sets up everything pennlayer needs on a fresh Debian machine with Python, node and npm:
# system packages, a virtual environment in .venv with pennlayer installed in editable
# mode (which builds the JupyterLab extension), with --test the test tools, and with
# --bench what the benchmarks need beyond that (bench/tiering.py: zstd, iproute2, s3rver).
#
#   scripts/setup.sh            # to run JupyterLab with pennlayer
#   scripts/setup.sh --test     # also Chromium and the browser-test packages
#   scripts/setup.sh --bench    # also the benchmarks' tools (may be given with --test)
#
# Safe to run again: each step is skipped when its result is already there and current.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TESTS=0
WITH_BENCH=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TESTS=1 ;;
    --bench) WITH_BENCH=1 ;;
    *) echo "usage: scripts/setup.sh [--test] [--bench]" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# --- system packages --------------------------------------------------------------------
apt_packages=()
command -v bwrap >/dev/null || apt_packages+=(bubblewrap)
if [[ $WITH_TESTS == 1 ]]; then
  command -v chromium >/dev/null || apt_packages+=(chromium)
  command -v dockerd >/dev/null || apt_packages+=(docker.io)   # the Docker loader tests
  command -v busybox >/dev/null || apt_packages+=(busybox-static)  # their local image
fi
if [[ $WITH_BENCH == 1 ]]; then
  command -v zstd >/dev/null || apt_packages+=(zstd)   # tiering.py's reference pipelines
  command -v tc >/dev/null || apt_packages+=(iproute2)  # its network namespace
fi
if ((${#apt_packages[@]})); then
  if [[ $(id -u) == 0 ]]; then
    say "Installing system packages: ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  else
    echo "Missing system packages: ${apt_packages[*]}. Install them (sudo apt-get install" \
      "${apt_packages[*]}) and run this again." >&2
    exit 1
  fi
fi

# --- Python environment -----------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  say "Creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
export PATH="$ROOT/.venv/bin:$PATH"
export VIRTUAL_ENV="$ROOT/.venv"

# Re-install only when the packaging inputs changed since the last setup, or the test
# tools are wanted and missing (an install with them serves scripts/run.sh as well).
stamp_inputs=(pyproject.toml package.json yarn.lock)
inputs="$(cat "${stamp_inputs[@]}" 2>/dev/null | sha256sum | cut -c1-16)"
installed="$(cat .venv/.pennlayer-setup 2>/dev/null || true)"
if [[ $WITH_TESTS == 0 && $installed == "$inputs-1" ]]; then
  WITH_TESTS_INSTALLED=1
else
  WITH_TESTS_INSTALLED=$WITH_TESTS
fi
stamp="$inputs-$WITH_TESTS_INSTALLED"
# What the JupyterLab extension is built from: an updated checkout rebuilds it below even
# when the packaging files are unchanged (the install's build skips an existing one).
frontend="$(find src style schema/settings tsconfig.json -type f -not -path '*/__tests__/*' \
  -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
if [[ $installed != "$stamp" ]] || [[ ! -f pennlayer_ext/labextension/package.json ]]; then
  # An earlier setup linked the venv's copy of the extension to the build folder
  # (`jupyter-builder develop`): pip would now write install.json through that link
  # into the build folder, and the next build would find that file twice.
  labext=.venv/share/jupyter/labextensions/pennlayer
  [[ -L $labext ]] && rm "$labext"
  rm -f pennlayer_ext/labextension/install.json
  say "Installing build tools"
  python -m pip install -q --upgrade pip
  python -m pip install -q "hatchling>=1.5" "hatch-jupyter-builder>=0.9" \
    "hatch-nodejs-version>=0.3.2" editables "jupyterlab>=4.4,<5"
  say "Installing JavaScript dependencies"
  jlpm install --immutable >/dev/null
  say "Installing pennlayer (editable) and building the JupyterLab extension"
  extras=""
  [[ $WITH_TESTS_INSTALLED == 1 ]] && extras="[hub,test]"
  built_before=0
  [[ -f pennlayer_ext/labextension/static/style.js ]] && built_before=1
  python -m pip install -q --no-build-isolation -e ".${extras}"
  # An editable install ships only install.json; link the built extension in its place.
  jupyter-builder develop --overwrite . >/dev/null
  echo "$stamp" > .venv/.pennlayer-setup
  # The install built the extension only if there was none: from these very sources.
  ((built_before)) || echo "$frontend" > .venv/.pennlayer-frontend
fi
if [[ "$(cat .venv/.pennlayer-frontend 2>/dev/null || true)" != "$frontend" ]]; then
  say "Building the JupyterLab extension (its sources changed since the last build)"
  jlpm build >/dev/null
  echo "$frontend" > .venv/.pennlayer-frontend
fi

# --- browser tests ----------------------------------------------------------------------
if [[ $WITH_TESTS == 1 ]]; then
  if [[ ! -d ui-tests/node_modules ]] || [[ ui-tests/package-lock.json -nt ui-tests/node_modules ]]; then
    say "Installing browser-test packages"
    (cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null)
    touch ui-tests/node_modules
  fi
  # JupyterHub's proxy for the shared-node tests (test_hub_users.py), local to the repo.
  if [[ ! -x scripts/hub-proxy/node_modules/.bin/configurable-http-proxy ]] \
    || [[ scripts/hub-proxy/package-lock.json -nt scripts/hub-proxy/node_modules ]]; then
    say "Installing JupyterHub's proxy (configurable-http-proxy)"
    (cd scripts/hub-proxy && npm ci --no-audit --no-fund >/dev/null)
    touch scripts/hub-proxy/node_modules
  fi
fi
# --- benchmarks ---------------------------------------------------------------------------
if [[ $WITH_BENCH == 1 ]]; then
  # The S3 server of bench/tiering.py's S3 part (the tests keep moto), local to the repo.
  if [[ ! -x scripts/s3-bench/node_modules/.bin/s3rver ]] \
    || [[ scripts/s3-bench/package-lock.json -nt scripts/s3-bench/node_modules ]]; then
    say "Installing the benchmarks' S3 server (s3rver)"
    (cd scripts/s3-bench && npm ci --no-audit --no-fund >/dev/null)
    touch scripts/s3-bench/node_modules
  fi
fi
say "Setup complete"

#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: linters, type checks, Python tests
# (real Jupyter server, real kernels), JavaScript unit tests and browser tests (Galata
# with Debian's Chromium). Extra arguments go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --test
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
started=$SECONDS

# A Docker engine for the docker loader tests (no registry needed: they import a local
# image). Started here when none runs; left running for the next run.
if ! docker info >/dev/null 2>&1 && command -v dockerd >/dev/null && [[ $(id -u) == 0 ]]; then
  say "Starting the Docker engine"
  nohup dockerd --iptables=false --bridge=none >/tmp/pennlayer-dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || echo "warning: dockerd did not start; see /tmp/pennlayer-dockerd.log" >&2
fi

say "Python lint and format (ruff), types (mypy on the core)"
ruff check .
ruff format --check .
mypy

say "TypeScript lint (eslint, prettier, stylelint) and unit tests (jest)"
jlpm lint:check
jlpm test --silent

say "Browser tests (Galata, Chromium)"
(
  cd ui-tests
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npx playwright test
)

say "Python tests (pytest)"
# Two workers by default (PENNLAYER_TEST_WORKERS; -n 0 after the command runs them in one
# process): most tests wait for servers, kernels and jobs, not for the CPU. A test file
# stays on one worker (--dist loadfile): the JupyterHub tests share system users and a
# module's fixtures (a Hub, a fuzzed server) are started once.
python -m pytest -n "${PENNLAYER_TEST_WORKERS:-2}" --dist loadfile "$@"

say "All checks passed in $((SECONDS - started)) s"

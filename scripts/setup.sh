#!/usr/bin/env bash
# Installs everything mlops needs, idempotently: JavaScript dependencies (bun comes from npm, pinned
# in package.json) and the Python environment notebooks run in. `--test` also installs what the test
# suite needs (./.venv-test with tritonclient, ./.venv-mlflow with a real MLflow server, ./.venv-families with
# XGBoost/LightGBM/CatBoost for the converter tests, ./.venv-ray with a Ray cluster's Python for the Ray tests, Debian's
# chromium for browser tests). Safe to run again: each step checks first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'setup: %s\n' "$*"; }

for tool in node npm python3 git; do
  command -v "$tool" >/dev/null || { echo "setup: $tool is required but not installed" >&2; exit 1; }
done

# JavaScript dependencies: reinstall only when package-lock.json changed since the last install.
stamp="node_modules/.mlops-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -x node_modules/.bin/bun || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  say "installing JavaScript dependencies (npm ci)"
  # onnxruntime-node's postinstall would try to download GPU binaries; the CPU ones ship in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
else
  say "JavaScript dependencies up to date"
fi

bash scripts/setup-python.sh

# bubblewrap sandboxes pushed notebooks (NOTEBOOK_SANDBOX=auto uses it when present and says loudly when not).
if ! command -v bwrap >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian's bubblewrap (the notebook sandbox)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; }
  else
    say "bubblewrap (bwrap) is missing and cannot be installed here: notebooks will run unsandboxed (install the bubblewrap package)"
  fi
else
  say "bubblewrap present"
fi

if [[ "${1:-}" == "--test" ]]; then
  # Python the tests use, apart from the notebook runtime: clients that drive this server (tritonclient, in
  # ./.venv-test), the MLflow tracking server the MLflow tests run (./.venv-mlflow), and the model libraries the
  # converter tests fit models with (XGBoost, LightGBM, CatBoost, in ./.venv-families).
  bash scripts/setup-test-python.sh
  bash scripts/setup-mlflow-python.sh
  bash scripts/setup-families-python.sh
  # A real Ray cluster for the Ray tests (./.venv-ray: ray[default] and a notebook runtime, plus a local wheel dir).
  bash scripts/setup-ray-python.sh
  if ! command -v chromium >/dev/null; then
    say "installing Debian's chromium for browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    say "chromium present"
  fi
  # Debian's haproxy (serving replicas behind a real load balancer) and docker-compose (parses deploy/'s compose
  # file; no container engine runs here).
  for tool in haproxy:haproxy docker-compose:docker-compose; do
    if ! command -v "${tool%%:*}" >/dev/null; then
      say "installing Debian's ${tool##*:} for the scale-out tests"
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq "${tool##*:}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${tool##*:}" >/dev/null; }
    else
      say "${tool##*:} present"
    fi
  done
fi

#!/usr/bin/env bash
# A real Ray cluster's Python for the tests (ray[default] and a notebook runtime, scripts/ray-requirements.txt), in
# ./.venv-ray, kept apart from ./.venv (the notebook runtime that ships with the product). Wheels only. Also fills
# ./.venv-ray/wheels with the few wheels the Ray tests ask a job to install through its runtime env: the test
# cluster runs inside a network namespace that reaches no package registry, so a job installs them with
# `--no-index --find-links .venv-ray/wheels`. Idempotent; see scripts/venv.sh.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
export PIP_ONLY_BINARY=:all:
bash "$ROOT/scripts/venv.sh" "$ROOT/.venv-ray" "$ROOT/scripts/ray-requirements.txt" --jupyter-kernel

# Wheels a test job installs from the local directory (pure-python, no dependencies of their own), as name==version.
WHEELS="$ROOT/.venv-ray/wheels"
JOB_WHEELS=(tabulate==0.9.0)
for spec in "${JOB_WHEELS[@]}"; do
  name="${spec%%==*}"
  version="${spec##*==}"
  if ! compgen -G "$WHEELS/${name}-${version}-*.whl" >/dev/null; then
    echo "venv .venv-ray: downloading $spec into $WHEELS for jobs that install offline"
    "$ROOT/.venv-ray/bin/python" -m pip download --disable-pip-version-check -q --only-binary :all: --no-deps -d "$WHEELS" "$spec"
  fi
done

#!/usr/bin/env bash
# A real MLflow tracking server for the tests (`mlflow server`), in ./.venv-mlflow, kept apart from ./.venv,
# which is the notebook runtime and ships with the product. Idempotent; see scripts/venv.sh.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
exec bash "$ROOT/scripts/venv.sh" "$ROOT/.venv-mlflow" "$ROOT/scripts/mlflow-requirements.txt"

#!/usr/bin/env bash
# Python packages the converter tests fit models with (XGBoost, LightGBM, CatBoost, scikit-learn, onnxmltools), in
# ./.venv-families, kept apart from ./.venv (the notebook runtime, which ships with the product). Wheels only.
# Idempotent; see scripts/venv.sh.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
export PIP_ONLY_BINARY=:all:
exec bash "$ROOT/scripts/venv.sh" "$ROOT/.venv-families" "$ROOT/scripts/model-families-requirements.txt"

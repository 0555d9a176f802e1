#!/usr/bin/env bash
# The notebook runtime: ./.venv from notebooks/requirements.txt, with the venv's python as the `python3`
# Jupyter kernel (papermill runs every notebook with it). Idempotent; see scripts/venv.sh.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
exec bash "$ROOT/scripts/venv.sh" "$ROOT/.venv" "$ROOT/notebooks/requirements.txt" --jupyter-kernel

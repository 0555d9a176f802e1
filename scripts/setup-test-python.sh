#!/usr/bin/env bash
# Python packages the tests use as clients of this server (tritonclient's HTTP client), in ./.venv-test, kept
# apart from ./.venv, which is the notebook runtime and ships with the product. Idempotent; see scripts/venv.sh.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
exec bash "$ROOT/scripts/venv.sh" "$ROOT/.venv-test" "$ROOT/scripts/test-requirements.txt"

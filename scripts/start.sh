#!/usr/bin/env bash
# Sets up everything (setup.sh) and runs the server from source with bun. Arguments go to `mlops serve`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
exec node_modules/.bin/bun src/main.ts serve --examples "$@"

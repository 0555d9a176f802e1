#!/usr/bin/env bash
# Sets up everything (see setup.sh --test), runs every test with bun test, and ends with one line
# "N passed, N failed". Exits non-zero when any test fails or the runner itself fails.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --test || exit 1

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
node_modules/.bin/bun test --timeout 120000 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# bun prints its totals as " N pass" / " N fail" lines; turn them into the one line CI reads.
passed=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | grep -oE '[0-9]+' || true)
failed=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | grep -oE '[0-9]+' || true)
passed=${passed:-0}
failed=${failed:-0}
if [[ $rc -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "${passed} passed, ${failed} failed"
exit $rc

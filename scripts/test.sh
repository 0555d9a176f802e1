#!/usr/bin/env bash
# Sets up everything (see setup.sh --test), runs every test with bun test, then the Ray tests inside their own network
# namespace (scripts/test-ray.sh), and ends with one line "N passed, N failed" counting both runs. Exits non-zero
# when any test fails or either runner itself fails.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh --test || exit 1

log="$(mktemp)"
raylog="$(mktemp)"
trap 'rm -f "$log" "$raylog"' EXIT

# bun prints its totals as " N pass" / " N fail" lines. $1: bun's output, $2: its exit code; sets passed/failed.
totals() {
  passed=$(grep -E '^ *[0-9]+ pass$' "$1" | tail -1 | grep -oE '[0-9]+' || true)
  failed=$(grep -E '^ *[0-9]+ fail$' "$1" | tail -1 | grep -oE '[0-9]+' || true)
  passed=${passed:-0}
  failed=${failed:-0}
  # A run that failed without counting a failure (a crash, a missing tool) still counts as one.
  if [[ $2 -ne 0 && $failed -eq 0 ]]; then failed=1; fi
}

node_modules/.bin/bun test --timeout 120000 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
totals "$log" "$rc"
all_passed=$passed
all_failed=$failed

# The Ray tests run as their own bun test inside a network namespace (scripts/test-ray.sh); a run narrowed to some
# files or options leaves them out.
if [[ $# -eq 0 ]]; then
  bash scripts/test-ray.sh 2>&1 | tee "$raylog"
  ray_rc=${PIPESTATUS[0]}
  totals "$raylog" "$ray_rc"
  all_passed=$((all_passed + passed))
  all_failed=$((all_failed + failed))
  if [[ $ray_rc -ne 0 && $rc -eq 0 ]]; then rc=$ray_rc; fi
fi

# The failed tests of both runs together, where the end of a long CI log shows them.
if grep -hE '^\(fail\) ' "$log" "$raylog" >/dev/null 2>&1; then
  echo "failed tests:"
  grep -hE '^\(fail\) ' "$log" "$raylog" | sort -u
fi

# The one line CI reads.
echo "${all_passed} passed, ${all_failed} failed"
exit $rc

#!/usr/bin/env bash
# Runs the Ray tests (src/**/*.raytest.ts, or the files given) with `bun test` inside a new network namespace that
# has loopback alone: Ray advertises the machine's non-loopback address wherever one exists, and the tests' traffic
# must stay on loopback. Nothing inside reaches a package registry: what the cluster and its jobs use is installed
# before (./.venv-ray and ./.venv-ray/wheels, by scripts/setup-ray-python.sh). Needs root (unshare -n) and `ip`.
# bun's output ends with its totals (" N pass", " N fail"); scripts/test.sh adds them to its one summary line.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'test-ray: %s\n' "$*" >&2; }

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  # `bun test` does not discover *.raytest.ts by itself (so the main suite never starts a cluster); a path that
  # starts with ./ runs whatever its name.
  mapfile -t files < <(find src -name '*.raytest.ts' | sort | sed 's|^|./|')
fi
[[ ${#files[@]} -gt 0 ]] || { say "no *.raytest.ts files found under src/"; exit 1; }
[[ -x .venv-ray/bin/ray ]] || { say "./.venv-ray is missing: run bash scripts/setup-ray-python.sh (or scripts/setup.sh --test)"; exit 1; }
command -v ip >/dev/null || { say "the ip command (iproute2) is missing: it brings up loopback in the test namespace"; exit 1; }
if ! unshare -n true 2>/dev/null; then
  say "cannot create a network namespace (unshare -n needs root here): the Ray tests cannot run on this machine"
  exit 1
fi

exec unshare -n sh -c 'ip link set lo up && exec node_modules/.bin/bun test --timeout 300000 "$@"' sh "${files[@]}"

#!/usr/bin/env bash
# Creates ./.venv-test (at the repository root) and installs scripts/test-requirements.txt into it: Python
# packages the tests use as clients of this server (tritonclient's HTTP client). Kept apart from ./.venv, which
# is the notebook runtime and ships with the product.
#
# Idempotent: the sha256 of test-requirements.txt is kept in .venv-test/.requirements.sha256 after a
# successful install; when it matches (and the venv's python exists) nothing is done.
#
# Environment: PYTHON (default python3) is the interpreter used to create the venv.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="$ROOT/.venv-test"
REQ="$ROOT/scripts/test-requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { echo "setup-test-python: $*"; }
die() { echo "setup-test-python: error: $*" >&2; exit 1; }

[ -f "$REQ" ] || die "missing $REQ"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

up_to_date() {
  [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]
}

WANT="$(sha256_of "$REQ")"
if up_to_date; then
  log "up to date ($VENV, requirements sha256 ${WANT:0:12})"
  exit 0
fi

# Serialize concurrent runs (e.g. two test files starting at once); re-check once the lock is held.
if command -v flock >/dev/null 2>&1; then
  LOCK="${TMPDIR:-/tmp}/mlops-setup-test-python-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).lock"
  exec 9>"$LOCK"
  flock 9
  if up_to_date; then
    log "up to date ($VENV, installed by a concurrent run)"
    exit 0
  fi
fi

START=$SECONDS

if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON=/path/to/python3)"
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
else
  log "requirements changed; updating $VENV"
fi

# Invalidate the stamp first: an interrupted install must be retried next time.
rm -f "$STAMP"

log "installing $(grep -cE '^[[:space:]]*[A-Za-z0-9]' "$REQ") pinned packages from scripts/test-requirements.txt"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"

printf '%s\n' "$WANT" >"$STAMP"
log "done in $((SECONDS - START))s ($VENV)"

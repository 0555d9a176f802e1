#!/usr/bin/env bash
# Creates ./.venv (at the repository root) and installs notebooks/requirements.txt into it.
#
# Idempotent: the sha256 of requirements.txt is kept in .venv/.requirements.sha256 after a
# successful install; when it matches (and the venv's python exists) nothing is done.
# Also registers the venv's python as the `python3` Jupyter kernel inside the venv
# (--sys-prefix), so `.venv/bin/papermill` runs notebooks with the venv's python.
#
# Environment: PYTHON (default python3) is the interpreter used to create the venv.
set -euo pipefail

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="$ROOT/.venv"
REQ="$ROOT/notebooks/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { echo "setup-python: $*"; }
die() { echo "setup-python: error: $*" >&2; exit 1; }

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

# Serialize concurrent runs (e.g. two test runners); re-check once the lock is held.
if command -v flock >/dev/null 2>&1; then
  LOCK="${TMPDIR:-/tmp}/mlops-setup-python-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).lock"
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

log "installing $(grep -cE '^[[:space:]]*[A-Za-z0-9]' "$REQ") pinned packages from notebooks/requirements.txt (this takes a minute or two)"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"

log "registering the venv's python as Jupyter kernel 'python3' (inside the venv)"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null

printf '%s\n' "$WANT" >"$STAMP"
log "done in $((SECONDS - START))s ($VENV)"

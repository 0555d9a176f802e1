#!/usr/bin/env bash
# Creates (or updates) a Python virtual environment from a pinned requirements file:
#   scripts/venv.sh <venv dir> <requirements file> [--jupyter-kernel]
# Idempotent: the sha256 of the requirements file is kept in <venv>/.requirements.sha256 after a
# successful install; when it matches (and the venv's python exists) nothing is done.
# With --jupyter-kernel, the venv's python is registered as the `python3` Jupyter kernel inside the
# venv (--sys-prefix), so `<venv>/bin/papermill` runs notebooks with the venv's python.
#
# Environment: PYTHON (default python3) is the interpreter used to create the venv.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: scripts/venv.sh <venv dir> <requirements file> [--jupyter-kernel]" >&2; exit 2; }
VENV="$(mkdir -p -- "$1" && cd -- "$1" && pwd -P)"
REQ="$2"
KERNEL="${3:-}"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"
NAME="$(basename -- "$VENV")"

log() { echo "venv $NAME: $*"; }
die() { echo "venv $NAME: error: $*" >&2; exit 1; }

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
  LOCK="${TMPDIR:-/tmp}/mlops-venv-$(printf '%s' "$VENV" | cksum | cut -d' ' -f1).lock"
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

log "installing $(grep -cE '^[[:space:]]*[A-Za-z0-9]' "$REQ") pinned packages from $REQ (this can take a minute or two)"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"

if [ "$KERNEL" = "--jupyter-kernel" ]; then
  log "registering the venv's python as Jupyter kernel 'python3' (inside the venv)"
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
fi

printf '%s\n' "$WANT" >"$STAMP"
log "done in $((SECONDS - START))s ($VENV)"

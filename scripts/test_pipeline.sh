#!/usr/bin/env bash
# From a running server to a predict answer in one go: makes a local git repository from notebooks/,
# registers it, sends a signed push webhook, follows the pipeline log live, then calls predict.
#   MLOPS_URL (default http://localhost:8000), ADMIN_TOKEN (required), MODEL (default iris)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
url="${MLOPS_URL:-http://localhost:8000}"
token="${ADMIN_TOKEN:?set ADMIN_TOKEN to the admin token the server printed at first start}"
model="${MODEL:-iris}"
auth=(-H "Authorization: Bearer $token")
say() { printf '\n== %s\n' "$*"; }

say "making a git repository from notebooks/"
repo="$(mktemp -d)/examples"
mkdir -p "$repo"
cp "$root"/notebooks/*.ipynb "$repo"/
git -C "$repo" init -q -b main
git -C "$repo" -c user.name=mlops -c user.email=mlops@localhost add .
git -C "$repo" -c user.name=mlops -c user.email=mlops@localhost commit -qm "example notebooks"
sha="$(git -C "$repo" rev-parse HEAD)"
name="local/examples-$(date +%s)"

say "registering $name"
curl -fsS "${auth[@]}" -X POST "$url/api/repos" -H 'Content-Type: application/json' \
  -d "{\"full_name\": \"$name\", \"clone_url\": \"$repo\", \"branch\": \"main\"}"
echo

say "sending a signed push for $sha"
secret="$(curl -fsS "${auth[@]}" "$url/api/settings/webhook" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')"
body="$(printf '{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"%s","created":true,"deleted":false,"repository":{"full_name":"%s","clone_url":"%s"},"head_commit":{"id":"%s"},"commits":[]}' "$sha" "$name" "$repo" "$sha")"
sig="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)"
curl -fsS -X POST "$url/webhook/github" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" -H "X-Hub-Signature-256: $sig" -d "$body"
echo

say "waiting for the pipelines"
pipeline=""
for _ in $(seq 1 100); do
  pipeline="$(curl -fsS "${auth[@]}" "$url/api/pipelines?model=$model&limit=1" | python3 -c 'import json,sys; p=json.load(sys.stdin)["pipelines"]; print(p[0]["id"] if p else "")')"
  [[ -n "$pipeline" ]] && break
  sleep 0.2
done
[[ -n "$pipeline" ]] || { echo "no pipeline for model $model appeared" >&2; exit 1; }

say "following pipeline $pipeline live"
curl -fsSN "${auth[@]}" "$url/api/pipelines/$pipeline/events" | sed -n 's/^data: //p' |
  python3 -c '
import json, sys
for raw in sys.stdin:
    e = json.loads(raw)
    if "line" in e: print(e["line"], flush=True)
    elif "status" in e and "phase" not in e: print("pipeline:", e["status"], flush=True)
'
status="$(curl -fsS "${auth[@]}" "$url/api/pipelines/$pipeline" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
[[ "$status" == "succeeded" ]] || { echo "pipeline $pipeline ended $status" >&2; exit 1; }

say "predicting"
echo "curl -s -X POST $url/models/$model/predict -d '{\"inputs\": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'"
curl -fsS -X POST "$url/models/$model/predict" -H 'Content-Type: application/json' \
  -d '{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'
echo

#!/usr/bin/env bash
# Runs schemathesis (property-based API testing) against a live server, the
# real binary in --memory mode, and the OpenAPI document it serves
# (docs/openapi.json): no 5xx, no status code, content type or body the
# document does not allow. Installs schemathesis in a venv under the cargo
# target directory when it is missing. Needs the debug binary (cargo build).
# Usage: ./scripts/schemathesis.sh [examples per operation, default 50: about
# 5,000 requests, 75 s on a 2-core box]
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
examples=${1:-50}
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
target=$(cd "$target" && pwd)
venv="$target/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

binary="$target/debug/switchboard"
password="schemathesis-password"
hash=$(echo "$password" | "$binary" hash-password)
sed "s|PASSWORD_HASH|$hash|" scripts/schemathesis-directory.toml > "$work/directory.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export SB_API_KEY="schemathesis-api-key-0123456789"
"$binary" serve --memory --listen "127.0.0.1:$port" --directory "$work/directory.toml" \
  --api-key "$SB_API_KEY" --login-attempts-per-ip 0 --login-attempts-per-user 0 \
  --visitor-starts-per-ip 0 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
SB_TOKEN=$(curl -fs "$base/api/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export SB_TOKEN

echo "== schemathesis: $examples examples per operation against $base"
started=$(date +%s)
status=0
# Every check but positive_data_acceptance, which wants a 2xx for any
# request the document allows, while the ids generated name nothing here
# (404, documented). Logging out is left out: it would revoke the token of
# every other operation (tests/hardening.rs tests it). The event stream is
# left out too: it never ends (tests/integration_events.rs tests it). Run from the
# temporary directory: schemathesis and hypothesis keep caches in the
# working directory. A fixed seed: CI runs the same cases every time.
root=$(pwd)
(cd "$work" && PYTHONPATH="$root/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks "$venv/bin/schemathesis" --config-file "$root/scripts/schemathesis.toml" run "$base/api/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "$examples" --seed 1 --no-shrink --workers 2 --generation-database none \
  --exclude-path /api/logout --exclude-path /api/events \
  --report junit --report-dir "$target/schemathesis-report") || status=$?
echo "== schemathesis took $(( $(date +%s) - started )) s"
if [ "$status" -ne 0 ]; then
  echo "== server log (last 40 lines)"; tail -40 "$work/server.log"
fi
exit "$status"

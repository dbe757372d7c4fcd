#!/usr/bin/env bash
# Runs Switchboard's whole test suite on a fresh machine, installing what the
# tests need when it is missing: redis-server (Redis tests start their own on a
# free port), Debian's chromium (browser tests), and the npm packages of the
# browser tests (playwright-core, driving /usr/bin/chromium; no browser
# download), nginx (the documented multi-node front end is tested), and
# python3 with venv (scripts/schemathesis.sh installs schemathesis in one).
# Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
{ [ -x /usr/sbin/nginx ] || [ -x /usr/bin/nginx ]; } || need_apt+=(nginx)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ -f package.json ] && [ ! -d node_modules/playwright-core ]; then
  echo "== installing node packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "== building"
cargo build --workspace --all-targets

echo "== rust tests (unit, property, fuzz-style, integration, load smoke)"
cargo test --workspace

echo "== the HTTP API against its OpenAPI document (schemathesis, live server)"
./scripts/schemathesis.sh

if [ -d tests/browser ] && ls tests/browser/*.test.mjs >/dev/null 2>&1; then
  echo "== browser tests (headless chromium)"
  node --test --test-concurrency=1 tests/browser/
fi

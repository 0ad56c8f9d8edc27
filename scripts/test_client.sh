#!/usr/bin/env bash
# The mini-program client (clients/miniprogram): its type declarations
# checked by the TypeScript pinned in its package-lock.json, and its tests run
# by Node's test runner against a live wxauth debug server (the binary that
# `cargo test` built).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/test_tools.sh libpq-dev nodejs npm ca-certificates
bin="$root/target/debug/wxauth"
[ -x "$bin" ] || cargo build --locked --quiet --bin wxauth

cd clients/miniprogram
npm ci --no-audit --no-fund --silent
npx tsc -p tsconfig.json
WXAUTH_BIN="$bin" node --test test/client.test.js

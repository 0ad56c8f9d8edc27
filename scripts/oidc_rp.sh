#!/usr/bin/env bash
# Signs people in to a web application through wxauth's OpenID Connect
# provider (SPEC §11) with authlib, a relying-party library we did not write
# (pinned in scripts/oidc-requirements.txt, installed into target/oidc-venv):
# a debug server with the built-in mock WeChat on a fresh SQLite database,
# a confidential and a public client; scripts/oidc_rp.py runs the flows and
# each refusal and fails on the first thing authlib or the check disputes.
#
#   bash scripts/oidc_rp.sh          (after `cargo build`, which test.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test_tools.sh libpq-dev python3 python3-venv curl ca-certificates
bin=target/debug/wxauth
[ -x "$bin" ] || cargo build --locked --quiet --bin wxauth
venv=target/oidc-venv
if ! cmp -s scripts/oidc-requirements.txt "$venv/requirements.txt" 2>/dev/null; then
  echo "oidc_rp: installing authlib into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/oidc-requirements.txt
  cp scripts/oidc-requirements.txt "$venv/requirements.txt"
fi

work=$(mktemp -d /tmp/wxauth-oidc.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
key="$(pwd)/tests/fixtures/oidc/rsa_private_key.pem"
ROCKET_PORT=$port ROCKET_DATABASE_URL="$work/oidc.sqlite" \
  ROCKET_RATE_LIMIT='{authorize_per_minute=0,refresh_per_minute=0,web_login_per_minute=0}' \
  ROCKET_OIDC="{issuer=\"$base\",rsa_private_key=\"$key\",clients=[\
{client_id=\"shop\",client_secret=\"shop-secret-0123456789\",name=\"The Shop\",redirect_uris=[\"https://shop.example.com/callback\"]},\
{client_id=\"spa\",name=\"Dashboard\",redirect_uris=[\"http://127.0.0.1:3000/cb\"]}]}" \
  "$bin" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 200); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
if ! "$venv/bin/python" -W ignore scripts/oidc_rp.py "$base"; then
  echo "oidc_rp: the server's log:" >&2
  tail -20 "$work/server.log" >&2
  exit 1
fi
if grep -q "panicked" "$work/server.log"; then
  echo "oidc_rp: the server panicked:" >&2
  grep -A3 "panicked" "$work/server.log" >&2
  exit 1
fi

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

source scripts/debug_server.sh oidc_rp
bash scripts/python_venv.sh oidc
key="$(pwd)/tests/fixtures/oidc/rsa_private_key.pem"
ROCKET_DATABASE_URL="$work/oidc.sqlite" \
  ROCKET_RATE_LIMIT='{authorize_per_minute=0,refresh_per_minute=0,web_login_per_minute=0}' \
  ROCKET_OIDC="{issuer=\"$base\",rsa_private_key=\"$key\",clients=[\
{client_id=\"shop\",client_secret=\"shop-secret-0123456789\",name=\"The Shop\",redirect_uris=[\"https://shop.example.com/callback\"]},\
{client_id=\"spa\",name=\"Dashboard\",redirect_uris=[\"http://127.0.0.1:3000/cb\"]}]}" \
  serve
if ! target/oidc-venv/bin/python -W ignore scripts/oidc_rp.py "$base"; then
  echo "oidc_rp: the server's log:" >&2
  tail -20 "$work/server.log" >&2
  exit 1
fi
server_log_check

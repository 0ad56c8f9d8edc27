#!/usr/bin/env bash
# Makes target/totp-venv with pyotp (scripts/totp-requirements.txt) for the
# console's second-factor tests, once; again only when the pin changes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/totp-venv
if cmp -s scripts/totp-requirements.txt "$venv/requirements.txt" 2>/dev/null; then
  exit 0
fi
# Several test processes may ask at once: one makes it, the others wait.
mkdir -p target
exec 9>target/totp-venv.lock
flock 9
if ! cmp -s scripts/totp-requirements.txt "$venv/requirements.txt" 2>/dev/null; then
  echo "totp_venv: installing pyotp into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/totp-requirements.txt
  cp scripts/totp-requirements.txt "$venv/requirements.txt"
fi

#!/usr/bin/env bash
# Makes target/NAME-venv with the pins of scripts/NAME-requirements.txt, once;
# again only when the pins change. The test tools written by others that the
# suite runs: pyotp (totp), schemathesis (fuzz), authlib (oidc).
#
#   bash scripts/python_venv.sh NAME
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: python_venv.sh NAME}
pins=scripts/$name-requirements.txt
venv=target/$name-venv
[ -f "$pins" ] || { echo "python_venv: no $pins" >&2; exit 2; }
if cmp -s "$pins" "$venv/requirements.txt" 2>/dev/null; then
  exit 0
fi
# Several test processes may ask at once: one makes it, the others wait.
mkdir -p target
exec 9>"target/$name-venv.lock"
flock 9
if ! cmp -s "$pins" "$venv/requirements.txt" 2>/dev/null; then
  echo "python_venv: installing $pins into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$pins"
  cp "$pins" "$venv/requirements.txt"
fi

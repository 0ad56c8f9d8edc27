#!/usr/bin/env bash
# Runs wxauth's whole test suite: unit tests and the integration binary, the
# API suite against SQLite and against PostgreSQL. Starts the local PostgreSQL
# first when it is not running (the tests create and drop their own databases).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${WXAUTH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "test.sh: installing PostgreSQL" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "test.sh: PostgreSQL is not reachable at 127.0.0.1:5432" >&2; exit 1; }
fi

# The console's end-to-end test drives Debian's Chromium through chromedriver;
# CJK fonts let its screenshots show Chinese.
# The decryption tests encrypt their data with the openssl command line.
if ! command -v chromedriver >/dev/null 2>&1 || ! [ -x /usr/bin/chromium ] \
   || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! command -v openssl >/dev/null 2>&1; then
  echo "test.sh: installing Chromium, chromedriver, CJK fonts and openssl" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-noto-cjk openssl >/dev/null
fi

# tests/it/deploy.rs runs the nginx site of deploy/ in front of a server, and
# checks the systemd unit with systemd-analyze.
if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ] \
   || ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "test.sh: installing nginx and systemd's tools" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nginx systemd >/dev/null
fi
export PATH="$PATH:/usr/sbin"

export WXAUTH_TEST_POSTGRES_URL="$pg_url"
cargo test --locked "$@"
# The whole suite (no filter given) also runs the mini-program client's
# tests (Node's test runner against a live debug server, and tsc on its type
# declarations), and fuzzes the live API from its OpenAPI document.
if [ $# -eq 0 ]; then
  bash scripts/test_client.sh
  bash scripts/fuzz_api.sh
fi

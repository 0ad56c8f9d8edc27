#!/usr/bin/env bash
# Runs wxauth's whole test suite: unit tests and the integration binary, the
# API suite against SQLite and against PostgreSQL, then (with no filter) the
# mini-program client's tests and the API fuzzer.
#
#   bash scripts/test.sh             everything
#   bash scripts/test.sh logout      cargo test's filter (and its other arguments)
#
# First installs whatever the tests use and the machine lacks
# (scripts/test_tools.sh). Then, unless WXAUTH_TEST_POSTGRES_URL names a
# server, starts a throwaway PostgreSQL cluster of its own (trust
# authentication, a free loopback port), which the tests create and drop
# their databases in, and removes it at the end however the run ends.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test_tools.sh
# nginx and systemd-analyze's directory, absent from some users' PATH.
export PATH="$PATH:/usr/sbin"

filtered=$#
tests_started=
cluster=
pg_bin=
as_pg=()
finish() {
  local status=$?
  if [ -n "$cluster" ]; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" stop -D "$cluster/data" -m immediate >/dev/null 2>&1 || true
    rm -rf "$cluster"
  fi
  if [ -n "$tests_started" ]; then
    local took=$((SECONDS - tests_started)) what="whole suite" outcome=passed
    [ "$filtered" -eq 0 ] || what="run"
    case "$status" in
      0) ;;
      130 | 143) outcome=interrupted ;;
      *) outcome="failed (exit status $status)" ;;
    esac
    echo "test.sh: $what took $((took / 60)) min $((took % 60)) s, $outcome" >&2
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The PostgreSQL tests open up to about 30 connections each at a time (three
# instances with pools of 4 synchronous and 4 asynchronous connections, and
# the test's own); cargo runs one test per core unless told otherwise.
test_threads() {
  local threads="${RUST_TEST_THREADS:-$(nproc)}" arg previous=
  for arg in "$@"; do
    case "$arg" in --test-threads=*) threads="${arg#*=}" ;; esac
    [ "$previous" != --test-threads ] || threads="$arg"
    previous="$arg"
  done
  echo "$threads"
}

start_cluster() {
  # The newest server Debian's packages installed (a client-only version has
  # no initdb), else the initdb on PATH.
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1) || true
  pg_bin=$(dirname "${initdb:-$(type -P initdb)}")
  cluster=$(mktemp -d /tmp/wxauth-test-pg.XXXXXX)
  # initdb and the server refuse to run as root: then they run as `postgres`
  # (Debian's package makes that user), or as a system user made for them.
  if [ "$(id -u)" -eq 0 ]; then
    local user=postgres
    if ! id -u "$user" >/dev/null 2>&1; then
      user=wxauth-test-pg
      id -u "$user" >/dev/null 2>&1 \
        || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    fi
    chown "$user" "$cluster"
    as_pg=(runuser -u "$user" --)
  fi
  "${as_pg[@]}" "$pg_bin/initdb" -D "$cluster/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$cluster/initdb.log" 2>&1 \
    || { cat "$cluster/initdb.log" >&2; exit 1; }
  local connections=$((30 * $(test_threads "$@") + 20))
  [ "$connections" -ge 100 ] || connections=100
  # A server for one run: nothing needs to survive a crash.
  cat >>"$cluster/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$cluster'
max_connections = $connections
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  # A free port: the first of a few random ones that the server can bind.
  local port
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    if "${as_pg[@]}" "$pg_bin/pg_ctl" start -D "$cluster/data" -l "$cluster/server.log" \
      -o "-p $port" -w -t 60 >/dev/null 2>&1; then
      for _ in $(seq 1 100); do
        "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
      done
      "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" || break
      echo "test.sh: PostgreSQL $("$pg_bin/postgres" -V | awk '{print $3}') in $cluster on" \
        "127.0.0.1:$port, removed at the end" >&2
      export WXAUTH_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
      return
    fi
  done
  echo "test.sh: the throwaway PostgreSQL did not start:" >&2
  cat "$cluster/server.log" >&2
  exit 1
}

if [ -z "${WXAUTH_TEST_POSTGRES_URL:-}" ]; then
  start_cluster "$@"
else
  echo "test.sh: the PostgreSQL tests use WXAUTH_TEST_POSTGRES_URL's server" >&2
fi

# pyotp, the TOTP generator the console's second-factor tests check against
# (they would make it themselves; made here so that a failed download is
# told once, before the tests).
bash scripts/python_venv.sh totp
tests_started=$SECONDS
cargo test --locked "$@"
# The whole suite (no filter given) also runs the mini-program client's
# tests (Node's test runner against a live debug server, and tsc on its type
# declarations), fuzzes the live API from its OpenAPI document, and signs in
# on the web through the OpenID Connect provider with authlib.
if [ $# -eq 0 ]; then
  bash scripts/test_client.sh
  bash scripts/fuzz_api.sh
  bash scripts/oidc_rp.sh
fi

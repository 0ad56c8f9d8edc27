#!/usr/bin/env bash
# The console part of the benchmark: seeds a million users, live sessions and
# audit events (bench/seed_console.sql.*), signs in, and times every console
# page (curl's total time, median of five after a warm-up).
#   bash bench/console.sh WORK_DIR RESULTS_TSV BACKEND...   (called by run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$1 results=$2
shift 2
bin=target/release/wxauth
port=${ROCKET_PORT:-18003}
base="http://127.0.0.1:$port"
pg_admin="${WXAUTH_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

record() { printf '%s\t%s\n' "$1" "$2" >>"$results"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for backend in "$@"; do
  case "$backend" in
    sqlite)
      db_url="$work/console.sqlite"
      ROCKET_DATABASE_URL="$db_url" "$bin" migrate
      echo "bench: seeding a million rows into SQLite" >&2
      sqlite3 "$db_url" <bench/seed_console.sql.sqlite >/dev/null ;;
    postgres)
      pg_db="wxauth_bench_console_$$"
      psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
      trap 'psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
      db_url="${pg_admin%/*}/$pg_db"
      ROCKET_DATABASE_URL="$db_url" "$bin" migrate
      echo "bench: seeding a million rows into PostgreSQL" >&2
      psql -q "$db_url" -f bench/seed_console.sql.postgres >/dev/null ;;
  esac
  echo 'bench-password-0123' | ROCKET_DATABASE_URL="$db_url" "$bin" admin create bench >/dev/null
  ROCKET_DATABASE_URL="$db_url" taskset -c 0 "$bin" >>"$work/console-server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 2000); do port_open "$port" && break; sleep 0.005; done

  jar="$work/cookies-$backend"
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/admin/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  curl -s -o /dev/null -c "$jar" -b "$jar" "$base/admin/login" \
    --data-urlencode "username=bench" --data-urlencode "password=bench-password-0123" \
    --data-urlencode "csrf_token=$csrf"

  # page NAME PATH: median and worst of five timed loads after one warm-up.
  page() {
    local name=$1 path=$2 status times
    status=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$base$path")
    if [ "$status" != 200 ]; then
      echo "bench: $path answered HTTP $status" >&2
      record "$backend.console.$name.median_ms" 99999
      return
    fi
    times=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' -b "$jar" "$base$path"; done | sort -n)
    record "$backend.console.$name.median_ms" "$(echo "$times" | sed -n 3p | awk '{printf "%.1f", $1 * 1000}')"
    record "$backend.console.$name.max_ms" "$(echo "$times" | tail -1 | awk '{printf "%.1f", $1 * 1000}')"
    printf 'bench: %-32s median %s ms\n' "$backend console $name" "$(echo "$times" | sed -n 3p | awk '{printf "%.1f", $1 * 1000}')" >&2
  }
  page overview /admin
  page users /admin/users
  page users_later "/admin/users?before=500000"
  page search_nickname "/admin/users?q=%E7%94%A8%E6%88%B712345"
  page search_openid "/admin/users?q=obench777777"
  page search_unionid "/admin/users?q=ubench777777"
  page user_page "/admin/users/500000"
  page sessions /admin/sessions
  page audit /admin/audit
  page audit_kind "/admin/audit?kind=login"
  page audit_kind_later "/admin/audit?kind=login&before=500000"
  # The whole audit log (a million events) as CSV: the rows it gave, the
  # time, and the server's resident memory before and at its highest
  # during the export (sampled every 20 ms), which must not grow with it.
  rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
  before_kb=$(rss)
  peak_kb=$before_kb
  curl -s -b "$jar" -o "$work/audit.csv" -w '%{time_total}\n' "$base/admin/audit.csv" >"$work/audit-csv-time" &
  curl_pid=$!
  while kill -0 "$curl_pid" 2>/dev/null; do
    now_kb=$(rss); [ "$now_kb" -gt "$peak_kb" ] && peak_kb=$now_kb
    sleep 0.02
  done
  wait "$curl_pid"
  record "$backend.audit_csv.rows" "$(($(wc -l <"$work/audit.csv") - 1))"
  record "$backend.audit_csv.seconds" "$(cat "$work/audit-csv-time")"
  record "$backend.audit_csv.rss_before_mb" "$(awk -v k="$before_kb" 'BEGIN {printf "%.1f", k / 1024}')"
  record "$backend.audit_csv.rss_peak_mb" "$(awk -v k="$peak_kb" 'BEGIN {printf "%.1f", k / 1024}')"
  echo "bench: $backend audit CSV: $(($(wc -l <"$work/audit.csv") - 1)) rows in $(cat "$work/audit-csv-time") s, RSS $((before_kb / 1024)) MB before, $((peak_kb / 1024)) MB at most" >&2
  rm -f "$work/audit.csv"
  # One kind's events as CSV, which go on by (created_at, id) through the
  # kind's index rather than by id.
  kind_time=$(curl -s -b "$jar" -o "$work/audit.csv" -w '%{time_total}\n' "$base/admin/audit.csv?kind=login")
  record "$backend.audit_csv_kind.rows" "$(($(wc -l <"$work/audit.csv") - 1))"
  record "$backend.audit_csv_kind.seconds" "$kind_time"
  echo "bench: $backend audit CSV of logins: $(($(wc -l <"$work/audit.csv") - 1)) rows in $kind_time s" >&2
  rm -f "$work/audit.csv"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [ "$backend" = postgres ]; then
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    trap - EXIT
  fi
done

#!/usr/bin/env bash
# Counts the user-space instructions of new people's logins on SQLite with
# callgrind: repeatable where timings on this shared machine are not (see
# docs/performance.md). Runs the server under valgrind twice — once with no
# logins (start-up, migrations), once with N new people's logins sent 16 at a
# time — and prints the difference per login.
#
#   bash bench/count_logins.sh [BIN] [N]     BIN: a release build (default
#                                           target/release/wxauth); N: 3200
#   KEEP=out.callgrind bash bench/count_logins.sh ...   keeps the N run's profile
#                                           (callgrind_annotate --inclusive=yes)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/wxauth}
n=${2:-3200}
command -v valgrind >/dev/null || { echo "count_logins: needs valgrind" >&2; exit 1; }
mock_port=18012 port=18013
work=$(mktemp -d /tmp/wxauth-count.XXXXXX)
trap 'rm -rf "$work"' EXIT

export ROCKET_PROFILE=release ROCKET_ADDRESS=127.0.0.1 ROCKET_PORT=$port
export ROCKET_JWT_SECRET="bench-jwt-secret-0123456789abcdef0123456789"
export ROCKET_SESSION_KEY_SECRET="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
export ROCKET_SECRET_KEY="hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="
export ROCKET_WECHAT="{api_base=\"http://127.0.0.1:$mock_port\",apps=[{appid=\"wxbench000000000\",secret=\"bench-secret\",name=\"Bench\"}]}"
export ROCKET_RATE_LIMIT='{authorize_per_minute=0,refresh_per_minute=0}'

# instructions LOGINS: the server's total under callgrind for that many logins.
instructions() {
  local logins=$1 run="$work/run$1"
  mkdir -p "$run"
  "$bin" mock-wechat --port $mock_port >/dev/null 2>&1 &
  local mock=$!
  ROCKET_DATABASE_URL="$run/db.sqlite" valgrind --tool=callgrind \
    --callgrind-out-file="$run/out" "$bin" >/dev/null 2>"$run/valgrind.log" &
  local server=$!
  for _ in $(seq 1 1200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  python3 - "$logins" "$port" <<'PY'
import http.client, json, sys, threading
n, port = int(sys.argv[1]), int(sys.argv[2])
def client(first):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(first, n, 16):
        body = json.dumps({"code": f"count-{i}", "nickName": f"bench {i}"})
        c.request("POST", "/api/v1.0/auth/authorize", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        answer = r.read()
        assert r.status == 200, answer
threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
for t in threads: t.start()
for t in threads: t.join()
PY
  kill -TERM "$server"; wait "$server" 2>/dev/null || true
  kill "$mock"; wait "$mock" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && [ "$logins" != 0 ] && cp "$run/out" "$KEEP"
  awk '/^summary:/ {print $2}' "$run/out"
}

idle=$(instructions 0)
busy=$(instructions "$n")
awk -v i="$idle" -v b="$busy" -v n="$n" \
  'BEGIN {printf "count_logins: %.1fk instructions per new person'"'"'s login (%d logins; %d in all, %d without)\n", (b - i) / n / 1000, n, b, i}'

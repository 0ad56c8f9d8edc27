# Sourced by the scripts that point a tool at a running server (fuzz_api.sh,
# oidc_rp.sh): the debug build on a free port, stopped when the script ends.
#
#   source scripts/debug_server.sh NAME   sets bin, port, base and work (a
#                                         fresh directory for the database)
#   serve                                 starts "$bin" with the environment
#                                         as it is, waits for /healthz
#   server_log_check                      fails when the server panicked
bash scripts/test_tools.sh libpq-dev python3 python3-venv curl ca-certificates
bin=target/debug/wxauth
[ -x "$bin" ] || cargo build --locked --quiet --bin wxauth
debug_server_name=$1
work=$(mktemp -d "/tmp/wxauth-$debug_server_name.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

serve() {
  ROCKET_PORT=$port "$bin" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 200); do curl -sf "$base/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "$debug_server_name: the server did not answer; its log:" >&2
  tail -20 "$work/server.log" >&2
  return 1
}

server_log_check() {
  if grep -q "panicked" "$work/server.log"; then
    echo "$debug_server_name: the server panicked:" >&2
    grep -A3 "panicked" "$work/server.log" >&2
    return 1
  fi
}

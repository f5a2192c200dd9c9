#!/usr/bin/env bash
# Switchboard's benchmark: `_execute` of a .webhook connector against nginx proxy_pass to
# the same loopback sink, memory, start-up time, store throughput at 10,000 and
# 100,000 connectors, and queued executions per second through one node, on SQLite
# and PostgreSQL. Loopback only. Prints a report; writes
# nothing to the repository.
#
#   bench/run.sh                 everything (PostgreSQL part needs root, like .ci/run)
#   BENCH_SECONDS=10 BENCH_CONNECTIONS=64 bench/run.sh
#   BENCH_STORE=0 bench/run.sh   the execute comparison only
#   BENCH_PERF=1 bench/run.sh    also a perf profile of Switchboard under the same load
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
WARMUP_SECONDS=3

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk; then
  echo "== installing nginx and wrk from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

echo "== building Switchboard (release)"
cargo build --release --quiet --bin switchboard --example store_load --example bare_forwarder
BIN=target/release/switchboard

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for instance in sink forwarder; do
    "$NGINX" -p "$WORK/$instance" -c nginx.conf -s quit 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK_PORT=$(free_port)
FORWARDER_PORT=$(free_port)
SWITCHBOARD_PORT=$(free_port)
BARE_PORT=$(free_port)

# Two nginx instances: the sink, and the proxy_pass forwarder in front of it. Kept
# apart so that both paths measured (nginx forwarder -> sink, Switchboard -> sink)
# cross the same number of processes.
write_nginx() { # name workers server-block
  mkdir -p "$WORK/$1/logs"
  cat > "$WORK/$1/nginx.conf" <<NGINX
worker_processes $2;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  $3
}
NGINX
  "$NGINX" -p "$WORK/$1" -c nginx.conf
}
write_nginx sink 1 "server { listen 127.0.0.1:$SINK_PORT; location / { default_type application/json; return 200 '{\"ok\":true}'; } }"
write_nginx forwarder 2 "upstream sink { server 127.0.0.1:$SINK_PORT; keepalive 128; }
  server { listen 127.0.0.1:$FORWARDER_PORT; location / { proxy_pass http://sink; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
echo "== nginx: sink on $SINK_PORT (1 worker), proxy_pass forwarder on $FORWARDER_PORT (2 workers)"

# Start-up: process start to first successful answer, fresh data dir, five times.
echo "== start-up (fresh data dir each time)"
STARTUP_MS=$(python3 bench/startup.py "$BIN" 5)
echo "start-up ms (median of 5): $STARTUP_MS"

mkdir -p "$WORK/data"
# Security stays on, as it is by default: every request below authenticates (a
# verified header is remembered, so the slow password hash is paid once).
export SWITCHBOARD_SECURITY_ELASTICPASSWORD=bench-password
AUTH="elastic:bench-password"
SWITCHBOARD_SERVER_PORT=$SWITCHBOARD_PORT SWITCHBOARD_PATH_DATA="$WORK/data" \
  SWITCHBOARD_LOGGING_ROOT_LEVEL=warn "$BIN" serve > "$WORK/switchboard.log" 2>&1 &
SB_PID=$!
PIDS+=("$SB_PID")
BASE="http://127.0.0.1:$SWITCHBOARD_PORT"
for _ in $(seq 1 100); do curl -fs -u "$AUTH" "$BASE/api/actions/connector_types" >/dev/null && break; sleep 0.05; done
curl -fs -u "$AUTH" -X POST "$BASE/api/actions/connector/bench-hook" -H 'kbn-xsrf: true' -H 'content-type: application/json' \
  -d "{\"name\":\"bench\",\"connector_type_id\":\".webhook\",\"config\":{\"url\":\"http://127.0.0.1:$SINK_PORT/hook\",\"hasAuth\":false,\"headers\":{\"Content-Type\":\"application/json\"}}}" >/dev/null
rss_kb() { awk -v key="$2" '$1 == key":" { print $2 }' "/proc/$1/status"; }
# Idle: two seconds with nothing to do, as a server between alerts.
sleep 2
IDLE_RSS_KB=$(rss_kb "$SB_PID" VmRSS)

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"params":{"body":"{\\"text\\":\\"disk full on host-42\\"}"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["kbn-xsrf"] = "true"
wrk.headers["Authorization"] = "Basic ZWxhc3RpYzpiZW5jaC1wYXNzd29yZA=="
LUA

run_wrk() { # name url seconds -> "rps p50_ms p99_ms"
  wrk -t2 -c"$CONNECTIONS" -d"$3"s --latency -s "$WORK/post.lua" "$2" > "$WORK/wrk-$1.txt"
  python3 bench/wrk_summary.py "$WORK/wrk-$1.txt"
}
NGINX_URL="http://127.0.0.1:$FORWARDER_PORT/hook"
# The same HTTP stack with nothing of Switchboard's on top: the floor it can reach.
target/release/examples/bare_forwarder "127.0.0.1:$BARE_PORT" "http://127.0.0.1:$SINK_PORT/hook" &
PIDS+=("$!")
BARE_URL="http://127.0.0.1:$BARE_PORT/hook"
for _ in $(seq 1 100); do curl -fs -X POST "$BARE_URL" -d '{}' >/dev/null && break; sleep 0.05; done
EXECUTE_URL="$BASE/api/actions/connector/bench-hook/_execute"

echo "== the sink alone, for reference (GET, ${WARMUP_SECONDS}s)"
wrk -t2 -c"$CONNECTIONS" -d"$WARMUP_SECONDS"s "http://127.0.0.1:$SINK_PORT/" | awk '/Requests\/sec/ { print "sink: " $2 " req/s" }'

echo "== warm-up (${WARMUP_SECONDS}s each)"
run_wrk warmup-nginx "$NGINX_URL" "$WARMUP_SECONDS" >/dev/null
run_wrk warmup-switchboard "$EXECUTE_URL" "$WARMUP_SECONDS" >/dev/null
run_wrk warmup-bare "$BARE_URL" "$WARMUP_SECONDS" >/dev/null

echo "== ${SECONDS_PER_RUN}s runs, $CONNECTIONS connections, interleaved"
declare -a NGINX_RUNS SB_RUNS BARE_RUNS
for round in 1 2; do
  NGINX_RUNS+=("$(run_wrk "nginx-$round" "$NGINX_URL" "$SECONDS_PER_RUN")")
  SB_RUNS+=("$(run_wrk "switchboard-$round" "$EXECUTE_URL" "$SECONDS_PER_RUN")")
  BARE_RUNS+=("$(run_wrk "bare-$round" "$BARE_URL" "$SECONDS_PER_RUN")")
done
PEAK_RSS_KB=$(rss_kb "$SB_PID" VmHWM)
if [ "${BENCH_PERF:-0}" = 1 ]; then
  # Where Switchboard's CPU goes under the same load: a flat profile by symbol.
  echo "== perf profile of _execute (${SECONDS_PER_RUN}s)"
  perf record -q -F 999 -p "$SB_PID" -o "$WORK/perf.data" -- sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
  PERF_PID=$!
  run_wrk profiled "$EXECUTE_URL" "$SECONDS_PER_RUN" >/dev/null
  wait "$PERF_PID" || true
  perf report -q --stdio -i "$WORK/perf.data" --sort dso,symbol --percent-limit 0.8 2>/dev/null \
    | sed 's/[[:space:]]*$//' | grep -v '^$' | head -60
fi
# Every run must have succeeded: check one answer now.
curl -fs -u "$AUTH" -X POST "$EXECUTE_URL" -H 'kbn-xsrf: true' -H 'content-type: application/json' \
  -d '{"params":{"body":"{}"}}' | grep -q '"status":"ok"'

python3 bench/report.py "${NGINX_RUNS[@]}" -- "${SB_RUNS[@]}" -- "${BARE_RUNS[@]}" -- "$IDLE_RSS_KB" "$PEAK_RSS_KB" "$STARTUP_MS"
for file in "$WORK"/wrk-*-?.txt; do
  if grep -q 'Non-2xx' "$file"; then echo "WARNING: non-2xx answers in $(basename "$file")"; fi
done
kill "$SB_PID"; wait "$SB_PID" 2>/dev/null || true

[ "${BENCH_STORE:-1}" = 0 ] && exit 0
echo
echo "== store: create, get and list at 10,000 and 100,000 connectors; queued executions; opening secrets"
target/release/examples/store_load sqlite "$WORK/store-sqlite"
if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null; then
  DATABASE_URL=$(.ci/start-postgres)
  target/release/examples/store_load postgres "$DATABASE_URL"
else
  echo "(PostgreSQL part skipped: needs root and PostgreSQL 15, as .ci/start-postgres does)"
fi

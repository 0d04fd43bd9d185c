#!/usr/bin/env bash
# usage: run.sh <server binary> <label>; traffic only to 127.0.0.1
set -u
BIN=$1; LABEL=$2
DB=abuse_bench_$$_$LABEL
PORT=$((20000 + $$ % 10000))
ROOT=bench-root-key-0123456789abcdefghijklmnop
createdb -h 127.0.0.1 -U postgres "$DB"
URL="postgres://postgres@127.0.0.1:5432/$DB"
DATABASE_URL=$URL PORT=$PORT BIND=127.0.0.1 ROOT_API_KEY=$ROOT LOG_FORMAT=json RUST_LOG=warn \
  "$BIN" serve > ${OUT:-/tmp}/server-$LABEL.log 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/ready" > /dev/null && break; sleep 0.2; done
rows() { psql -h 127.0.0.1 -U postgres -d "$DB" -tAc "SELECT count(*) FROM audit_events WHERE outcome <> 'SUCCESS'"; }
echo "== $LABEL: uptime before: $(uptime)"
echo "-- legitimate client alone (1 connection, root key, 5 s)"
KEY=$ROOT wrk -t1 -c1 -d5s --latency -s "$(dirname "$0")/abuse-flood.lua" "http://127.0.0.1:$PORT/graphql" | grep -E "Requests/sec|99%|p99_ms|Non-2xx"
BEFORE=$(rows)
echo "-- flood (16 connections, egk_nope, 5 s) with the legitimate client alongside"
KEY=$ROOT wrk -t1 -c1 -d5s --latency -s "$(dirname "$0")/abuse-flood.lua" "http://127.0.0.1:$PORT/graphql" > ${OUT:-/tmp}/legit-$LABEL.txt &
LEGIT=$!
KEY=egk_nope wrk -t2 -c16 -d5s --latency -s "$(dirname "$0")/abuse-flood.lua" "http://127.0.0.1:$PORT/graphql" > ${OUT:-/tmp}/flood-$LABEL.txt
wait $LEGIT
grep -E "Requests/sec|Non-2xx|requests in" ${OUT:-/tmp}/flood-$LABEL.txt
echo "legitimate during flood:"; grep -E "Requests/sec|p99_ms|Non-2xx" ${OUT:-/tmp}/legit-$LABEL.txt
AFTER=$(rows)
echo "audit rows written during the flood: $((AFTER - BEFORE))"
echo "uptime after: $(uptime)"
kill -TERM $PID; wait $PID
echo "audit rows after shutdown (flush included): $(( $(rows) - BEFORE ))"
psql -h 127.0.0.1 -U postgres -d "$DB" -tAc "SELECT action, outcome, payload FROM audit_events WHERE outcome <> 'SUCCESS' ORDER BY at" | head -5
dropdb -h 127.0.0.1 -U postgres "$DB"

#!/usr/bin/env bash
# Profiles the server under one workload: builds it with debug info into its own target dir
# (so the normal release build is untouched), runs the harness against it, and attaches
# `perf record` to the server once seeding is done. Usage: bench/profile.sh nested postgres [key]
# (key: root, the default, or institution: read workloads run with that key only).
# Then: perf report -i target/bench/prof/<workload>-<store>.perf.data --no-children -g none
set -euo pipefail
workload=${1:?workload, e.g. nested}
store=${2:-postgres}
key=${3:-root}
cd "$(dirname "$0")/.."
out=target/bench/prof
mkdir -p "$out"
CARGO_PROFILE_RELEASE_DEBUG=true CARGO_TARGET_DIR=target/profiling \
  cargo build --release --bin escrowgrid
cargo build --release -p bench
target/release/bench --server-bin target/profiling/release/escrowgrid \
  --stores "$store" --workloads "$workload" --keys "$key" --seconds 12 --warmup 2 \
  --out "$out/$workload-$store.jsonl" >"$out/$workload-$store.stdout" 2>"$out/$workload-$store.stderr" &
harness=$!
# Seeding is not what we profile: wait until the harness has checked the nested shape.
for _ in $(seq 1 600); do
  grep -q 'nested query returns' "$out/$workload-$store.stderr" && break
  sleep 0.5
done
pid=$(grep -o 'server pid [0-9]*' "$out/$workload-$store.stderr" | awk '{print $3}')
# dwarf call graphs: the release build has no frame pointers.
perf record -F 250 --call-graph dwarf,32768 -p "$pid" -o "$out/$workload-$store.perf.data" -- sleep 11
wait "$harness"
cat "$out/$workload-$store.stdout"

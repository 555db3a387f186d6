#!/usr/bin/env bash
# API throughput, as a ratio against the same server's /healthz measured in the same run
# (the machine is shared and noisy; absolute figures move, the ratio much less).
#
#   bash bench/api.sh                      # SQLite
#   BENCH_DATABASE=postgres bash bench/api.sh
#
# Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 32), BENCH_THREADS (default 2).
# Target (SPEC "Targets"): authenticated GET /public/v1/agreements?limit=10 >= 0.50 x /healthz.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
command -v wrk >/dev/null || { echo "bench/api.sh needs wrk (apt-get install wrk)" >&2; exit 1; }

cargo build --release --locked --quiet --bin tokendesk
binary="$PWD/target/release/tokendesk"
work=$(mktemp -d)
pid=""
pg_database=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    if [ -n "$pg_database" ]; then
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ "${BENCH_DATABASE:-sqlite}" = postgres ]; then
    admin_url=${TOKENDESK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
    pg_database="tokendesk_bench_$$"
    psql "$admin_url" -qc "CREATE DATABASE $pg_database"
    export DATABASE_URL="${admin_url%/*}/$pg_database"
else
    export DATABASE_URL="$work/tokendesk.db"
fi
export TOKENDESK_BIND=127.0.0.1:0 RUST_LOG=warn

(cd "$work" && exec "$binary" serve --demo >"$work/out" 2>"$work/err") &
pid=$!
for _ in $(seq 1 100); do
    grep -q "shown only this once" "$work/out" 2>/dev/null && break
    sleep 0.1
done
base=$(grep -o 'http://[0-9.:]*' "$work/out" | head -n 1 || true)
[ -n "$base" ] || { echo "the server did not start:" >&2; cat "$work/err" >&2; exit 1; }
key=$(cd "$work" && "$binary" token create --account "Front Street Inc" --name "Benchmark")

curl -sf -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10" >/dev/null

rate() {
    wrk -t"$threads" -c"$connections" -d"${seconds}s" "$@" | awk '/Requests\/sec/ {print $2}'
}
# A short warm-up of both, then the measured runs.
BENCH_SECONDS=2 wrk -t1 -c4 -d2s "$base/healthz" >/dev/null
wrk -t1 -c4 -d2s -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10" >/dev/null

healthz=$(rate "$base/healthz")
agreements=$(rate -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10")
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

echo "database:                 ${BENCH_DATABASE:-sqlite}"
echo "GET /healthz:             $healthz requests/s"
echo "GET /public/v1/agreements?limit=10 (ApiKey): $agreements requests/s"
awk -v a="$agreements" -v h="$healthz" 'BEGIN { printf "ratio agreements/healthz:  %.2f (target >= 0.50)\n", a / h }'
echo "resident memory after load: $((rss_kb / 1024)) MB"

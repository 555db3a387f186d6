#!/usr/bin/env bash
# Two tokendesk instances on one PostgreSQL database behind HAProxy (deploy/haproxy.cfg, its
# ports changed to free ones), as docs/operations.md "Several instances" describes:
#
#   1. the API through the balancer, against /healthz through the balancer in the same run;
#   2. the same load while one instance is stopped (SIGTERM) a few seconds in: the requests that
#      failed (target 0 once the balancer marks it down; HAProxy resends the ones that found it
#      gone) and the rate meanwhile;
#   3. a token disabled through one instance, asked for through the other: how long until it is
#      refused (target < 1 s);
#   4. both instances stopped: the balancer answers the API with the contract's JSON 503 SRV_002
#      and Retry-After, and the UI with our page (deploy/haproxy-503.html), not HAProxy's own.
#
#   bash bench/cluster.sh
#
# Env: BENCH_SECONDS (default 10), BENCH_CONNECTIONS (32), BENCH_THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
admin_url=${TOKENDESK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
for tool in wrk haproxy psql curl; do
    command -v "$tool" >/dev/null || { echo "bench/cluster.sh needs $tool (apt-get install wrk haproxy postgresql-client curl)" >&2; exit 1; }
done

cargo build --release --locked --quiet --bin tokendesk
binary="$PWD/target/release/tokendesk"
work=$(mktemp -d)
pids=()
pg_database="tokendesk_cluster_$$"
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql "$admin_url" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

psql "$admin_url" -qc "CREATE DATABASE $pg_database"
export DATABASE_URL="${admin_url%/*}/$pg_database?sslmode=disable&gssencmode=disable"
# The keys every instance shares.
TOKENDESK_SESSION_KEY=$(head -c 64 /dev/urandom | base64 -w0)
TOKENDESK_MASTER_KEY=$(head -c 32 /dev/urandom | base64 -w0)
export TOKENDESK_SESSION_KEY TOKENDESK_MASTER_KEY
export TOKENDESK_TRUSTED_PROXIES=127.0.0.1/32 RUST_LOG=warn

# Migrated and seeded once, then two instances on their own ports.
(cd "$work" && "$binary" migrate >/dev/null)
port_a=$(free_port); port_b=$(free_port); port_lb=$(free_port)
start_instance() { # name port [--demo]
    local name=$1 port=$2
    mkdir -p "$work/$name"
    (cd "$work/$name" && TOKENDESK_BIND="127.0.0.1:$port" exec "$binary" serve "${@:3}" \
        >"$work/$name/out" 2>"$work/$name/err") &
    pids+=($!)
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "instance $name did not start:" >&2; cat "$work/$name/err" >&2; exit 1
}
start_instance a "$port_a" --demo
pid_a=${pids[-1]}
start_instance b "$port_b"
pid_b=${pids[-1]}

sed -e "s/127.0.0.1:8000/127.0.0.1:$port_lb/" \
    -e "s/127.0.0.1:8081/127.0.0.1:$port_a/" \
    -e "s/127.0.0.1:8082/127.0.0.1:$port_b/" deploy/haproxy.cfg >"$work/haproxy.cfg"
cp deploy/haproxy-503.html "$work/"
haproxy -c -q -f "$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)
lb="http://127.0.0.1:$port_lb"
for _ in $(seq 1 100); do
    curl -sf "$lb/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

key=$(cd "$work/a" && "$binary" token create --account "Front Street Inc" --name "Cluster benchmark" --modules all)
admin=$(cd "$work/a" && "$binary" token create --account "Front Street Inc" --name "Cluster admin" --modules all)
api="$lb/public/v1/agreements?limit=10"
curl -sf -H "Authorization: ApiKey $key" "$api" >/dev/null

load() { # seconds url [wrk args]
    wrk -t"$threads" -c"$connections" -d"$1s" "${@:3}" "$2"
}
rate_of() { awk '/Requests\/sec/ {print $2}'; }
failures_of() {
    awk '/Non-2xx or 3xx responses/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}'
}

wrk -t1 -c4 -d2s "$lb/healthz" >/dev/null
wrk -t1 -c4 -d2s -H "Authorization: ApiKey $key" "$api" >/dev/null
healthz=$(load "$seconds" "$lb/healthz" | rate_of)
steady=$(load "$seconds" "$api" -H "Authorization: ApiKey $key" | rate_of)
echo "== two instances on PostgreSQL behind HAProxy"
echo "GET /healthz through the balancer:                 $healthz requests/s"
echo "GET /public/v1/agreements?limit=10 through it:     $steady requests/s"
awk -v a="$steady" -v h="$healthz" 'BEGIN { printf "ratio agreements/healthz:                          %.2f\n", a / h }'

# One instance stopped a few seconds into the run.
load "$seconds" "$api" -H "Authorization: ApiKey $key" >"$work/stopping.txt" &
loader=$!
sleep $(( seconds / 3 ))
kill -TERM "$pid_b"
wait "$loader"
wait "$pid_b" 2>/dev/null || true
echo "== instance b stopped (SIGTERM) $(( seconds / 3 ))s into a ${seconds}s run"
echo "requests/s meanwhile:                              $(rate_of <"$work/stopping.txt")"
echo "requests in all:                                   $(awk '/requests in/ {print $1}' "$work/stopping.txt")"
echo "failed requests (non-2xx and socket errors):       $(failures_of <"$work/stopping.txt") (target 0)"

# Back to two, then a token disabled through one instance and asked for through the other.
start_instance b "$port_b"
pid_b=${pids[-1]}
for _ in $(seq 1 100); do
    grep -q "tokendesk-b.*UP" "$work/haproxy.log" 2>/dev/null && break
    sleep 0.1
done
token_id=${key%%:*}
curl -sf -H "Authorization: ApiKey $key" "http://127.0.0.1:$port_b/public/v1/agreements?limit=1" >/dev/null
started=$(date +%s%N)
curl -sf -X POST -H "Authorization: ApiKey $admin" \
    "http://127.0.0.1:$port_a/public/v1/auth/tokens/$token_id/deactivate" >/dev/null
while [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: ApiKey $key" \
    "http://127.0.0.1:$port_b/public/v1/agreements?limit=1")" != 401 ]; do
    if [ $(( ($(date +%s%N) - started) / 1000000 )) -gt 5000 ]; then
        echo "the other instance still accepts the disabled token after 5 s" >&2; exit 1
    fi
    sleep 0.01
done
echo "== token disabled on instance a"
echo "refused by instance b after:                       $(( ($(date +%s%N) - started) / 1000000 )) ms (target < 1000)"

# No instance left: the balancer answers for them.
kill -TERM "$pid_a" "$pid_b"
wait "$pid_a" "$pid_b" 2>/dev/null || true
for _ in $(seq 1 100); do
    grep -q "backend 'tokendesk' has no server available" "$work/haproxy.log" && break
    sleep 0.1
done
api_answer=$(curl -s -D "$work/api.headers" "$lb/public/v1/agreements?limit=1")
ui_answer=$(curl -s -D "$work/ui.headers" "$lb/integrations/tokens")
echo "== both instances stopped"
if ! grep -q '^HTTP/1.1 503' "$work/api.headers" || ! grep -qi '^retry-after: 5' "$work/api.headers" \
    || ! grep -qi '^content-type: application/json' "$work/api.headers" \
    || ! grep -q '"error_code":"SRV_002"' <<<"$api_answer"; then
    echo "the API through the balancer is not the contract's 503:" >&2
    cat "$work/api.headers" >&2; echo "$api_answer" >&2; exit 1
fi
if ! grep -q '^HTTP/1.1 503' "$work/ui.headers" || ! grep -qi '^retry-after: 5' "$work/ui.headers" \
    || ! grep -q 'tokendesk is temporarily unavailable' <<<"$ui_answer"; then
    echo "the UI through the balancer is not our 503 page:" >&2
    cat "$work/ui.headers" >&2; echo "$ui_answer" >&2; exit 1
fi
echo "the API through the balancer:                      503 SRV_002 (JSON, Retry-After)"
echo "the UI through the balancer:                       503, deploy/haproxy-503.html"

#!/usr/bin/env bash
# Forward-auth throughput, as ratios of figures measured in the same run (the machine is shared
# and noisy; absolute figures move, the ratios much less), on each database:
#
#   1. GET /auth/verify (a key and X-Original-URI, as nginx asks) against GET /healthz, both
#      straight to tokendesk;
#   2. through Debian's nginx on deploy/nginx.conf (its addresses changed to free ports): a
#      request that nginx checks with tokendesk before passing it to the service, against the
#      same request passed to the same service by the same nginx without the check. The service
#      is a server block of that nginx answering 200 at once, so what is measured is the check.
#
#   bash bench/verify.sh
#   BENCH_DATABASES=sqlite BENCH_SECONDS=5 bash bench/verify.sh
#
# Env: BENCH_SECONDS per measurement (default 10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
# BENCH_THREADS (2), BENCH_DATABASES ("sqlite postgres"). Each pair (healthz and verify; nginx
# alone and nginx with the check) is measured one after the other, BENCH_ROUNDS times, and the
# median of the rounds' ratios is the figure: the machine's speed drifts between measurements,
# so a ratio of neighbours is steadier than one of averages. Each measurement lasts
# BENCH_SECONDS after a 2 s warm-up: about 4 x BENCH_ROUNDS x (BENCH_SECONDS + 2) s per
# database, plus the release build.
# Targets (SPEC "Targets"): verify >= 0.80 x healthz; nginx -> verify -> service >= 0.50 x
# nginx -> service.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
databases=${BENCH_DATABASES:-sqlite postgres}
admin_url=${TOKENDESK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
nginx=/usr/sbin/nginx
command -v wrk >/dev/null || { echo "bench/verify.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x "$nginx" ] || { echo "bench/verify.sh needs nginx (apt-get install nginx)" >&2; exit 1; }

cargo build --release --locked --quiet --bin tokendesk
binary="${CARGO_TARGET_DIR:-$PWD/target}/release/tokendesk"
work=$(mktemp -d)
pid=""
nginx_pid=""
pg_database=""
cleanup() {
    if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$pg_database" ]; then
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    return 1
}
# Requests/s, and how many were not answered 2xx (any would make the figure meaningless).
rate() {
    wrk -t1 -c4 -d2s "$@" >/dev/null
    wrk -t"$threads" -c"$connections" -d"${seconds}s" "$@" \
        | awk '/Requests\/sec/ {rate = $2} /Non-2xx/ {bad = $5} END {print rate, bad + 0}'
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

measure() {
    local database=$1 folder="$work/$1"
    mkdir -p "$folder/logs"
    if [ "$database" = postgres ]; then
        pg_database="tokendesk_bench_verify_$$"
        psql "$admin_url" -qc "CREATE DATABASE $pg_database"
        # Loopback: no TLS, as the tests (TLS would measure OpenSSL, not tokendesk).
        export DATABASE_URL="${admin_url%/*}/$pg_database?sslmode=disable&gssencmode=disable"
    else
        export DATABASE_URL="$folder/tokendesk.db"
    fi
    printf '/orders MD-0012\n/catalog MD-0010\n' >"$folder/routes"
    local port proxy service plain
    port=$(free_port); proxy=$(free_port); service=$(free_port); plain=$(free_port)
    export TOKENDESK_BIND="127.0.0.1:$port" TOKENDESK_ROUTES="$folder/routes" \
        TOKENDESK_TRUSTED_PROXIES=127.0.0.1/32 RUST_LOG=warn
    (cd "$folder" && exec "$binary" serve >"$folder/out" 2>"$folder/err") &
    pid=$!
    local base="http://127.0.0.1:$port"
    wait_for "$base/healthz" || { cat "$folder/err" >&2; exit 1; }
    local key
    key=$(cd "$folder" && "$binary" token create --account "Front Street Inc" --name "Benchmark" --modules MD-0012)
    local auth="Authorization: ApiKey $key"

    # deploy/nginx.conf, its addresses changed, with two server blocks added: the service (200 at
    # once) and the same service passed through without the check.
    python3 - "$folder/nginx.conf" "$proxy" "$port" "$service" "$plain" "$folder/logs" <<'PY'
import sys
out, proxy, tokendesk, service, plain, logs = sys.argv[1:]
text = open("deploy/nginx.conf").read()
text = (text.replace("127.0.0.1:8000", "127.0.0.1:" + proxy)
            .replace("127.0.0.1:8080", "127.0.0.1:" + tokendesk)
            .replace("127.0.0.1:9000", "127.0.0.1:" + service)
            .replace("/var/log/nginx/", logs + "/"))
added = """
    server {
        listen 127.0.0.1:%s;
        access_log off;
        location / { return 200 "service\\n"; }
    }
    server {
        listen 127.0.0.1:%s;
        location / {
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://service;
        }
    }
}
""" % (service, plain)
end = text.rstrip().rfind("}")
open(out, "w").write(text[:end] + added)
PY
    "$nginx" -p "$folder" -c "$folder/nginx.conf" -g "daemon off; pid $folder/nginx.pid;" \
        2>"$folder/nginx.err" &
    nginx_pid=$!
    wait_for "http://127.0.0.1:$plain/" || { cat "$folder/nginx.err" "$folder/logs/"* >&2; exit 1; }
    curl -sf -o /dev/null -H "$auth" "http://127.0.0.1:$proxy/orders/1" \
        || { echo "nginx does not let the key through:" >&2; cat "$folder/logs/"* >&2; exit 1; }

    echo "== tokendesk on $database"
    local round healthz verify through alone bad direct=() proxied=()
    for round in $(seq 1 "$rounds"); do
        read -r healthz bad < <(rate "$base/healthz")
        read -r verify bad < <(rate -H "$auth" -H "X-Original-URI: /orders/1" "$base/auth/verify")
        [ "$bad" = 0 ] || echo "warning: $bad verify answers were not 2xx" >&2
        read -r alone bad < <(rate "http://127.0.0.1:$plain/orders/1")
        read -r through bad < <(rate -H "$auth" "http://127.0.0.1:$proxy/orders/1")
        [ "$bad" = 0 ] || echo "warning: $bad answers through the check were not 2xx" >&2
        direct+=("$(ratio "$verify" "$healthz")")
        proxied+=("$(ratio "$through" "$alone")")
        echo "round $round: /healthz $healthz, /auth/verify $verify (${direct[-1]}); nginx -> service $alone, nginx -> /auth/verify -> service $through (${proxied[-1]}) requests/s"
    done
    echo "ratio verify/healthz, median:          $(median "${direct[@]}") (target >= 0.80)"
    echo "ratio checked/unchecked, median:       $(median "${proxied[@]}") (target >= 0.50)"

    kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || true; nginx_pid=""
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    if [ -n "$pg_database" ]; then
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null
        pg_database=""
    fi
}

for database in $databases; do
    measure "$database"
done

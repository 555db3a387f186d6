#!/usr/bin/env bash
# API throughput on both databases and against a Django REST Framework peer, as ratios against
# figures measured in the same run (the machine is shared and noisy; absolute figures move, the
# ratios much less).
#
#   bash bench/api.sh                              # SQLite, PostgreSQL and the DRF peer
#   BENCH_DATABASES=sqlite BENCH_PEER=0 bash bench/api.sh
#
# Env: BENCH_SECONDS per measurement (default 10), BENCH_CONNECTIONS (32), BENCH_THREADS (2),
# BENCH_DATABASES ("sqlite postgres"), BENCH_PEER (1: measure the peer too).
# Targets (SPEC "Targets"): authenticated GET /public/v1/agreements?limit=10 >= 0.50 x /healthz
# on SQLite, >= 0.50 x pgbench -S -M prepared (8 clients) on PostgreSQL, and >= 15 x the same
# request served by DRF +
# djangorestframework-api-key under gunicorn with 2 workers (bench/peer, its virtualenv made here
# under target/bench-peer from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
databases=${BENCH_DATABASES:-sqlite postgres}
peer=${BENCH_PEER:-1}
admin_url=${TOKENDESK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { echo "bench/api.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
if [[ " $databases " == *" postgres "* ]]; then
    command -v pgbench >/dev/null || { echo "bench/api.sh needs pgbench (apt-get install postgresql-contrib)" >&2; exit 1; }
fi

cargo build --release --locked --quiet --bin tokendesk --example agreements_rate
binary="$PWD/target/release/tokendesk"
statement_rate="$PWD/target/release/examples/agreements_rate"
work=$(mktemp -d)
pid=""
pg_database=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$pg_database" ]; then
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null 2>&1 || true
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS ${pg_database}_pgbench WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

rate() {
    wrk -t"$threads" -c"$connections" -d"${seconds}s" "$@" | awk '/Requests\/sec/ {print $2}'
}
# Transactions/s of a pgbench run with 8 clients on 2 threads, as SPEC's target names it.
pgbench_tps() {
    pgbench -c 8 -j 2 -T "$seconds" "$@" 2>/dev/null | awk '/^tps/ {print int($3)}'
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# The same as `rate`, for a key with a rate limit: requests/s, and how many were not answered 200
# (429s would mean the limit, not the limiter, was measured). $1 is the key's unlimited rate: the
# run lasts no longer than 80 000 of its requests take, so that it stays within the 100 000 of a
# minute (and at most 5 s).
limited_rate() {
    local unlimited=$1
    shift
    local run
    run=$(awk -v r="$unlimited" -v s="$seconds" \
        'BEGIN { t = int(80000 / r); if (t > s) t = s; if (t > 5) t = 5; if (t < 1) t = 1; print t }')
    wrk -t"$threads" -c"$connections" -d"${run}s" "$@" \
        | awk '/Requests\/sec/ {rate = $2} /Non-2xx/ {refused = $5} END {print rate, refused + 0}'
}

# 50 sign-ins of the demo admin, 4 at a time, each with its own cookies: each checks a password
# with argon2 (19 MiB of work memory, which must be given back).
sign_ins() {
    local base=$1 password=$2 i
    local batch=()
    for i in $(seq 1 50); do
        (
            jar=$(mktemp)
            csrf=$(curl -s -c "$jar" "$base/login" | grep -o 'name="csrf_token" value="[^"]*"' | head -n 1 | sed 's/.*value="//; s/"$//')
            curl -s -o /dev/null -b "$jar" -c "$jar" --data-urlencode "email=robert@frontstreet.example" \
                --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" "$base/login"
            rm -f "$jar"
        ) &
        batch+=($!)
        # Only these: a bare `wait` would also wait for the server, which runs in the background.
        if ((i % 4 == 0)); then wait "${batch[@]}"; batch=(); fi
    done
    ((${#batch[@]} == 0)) || wait "${batch[@]}"
}

resident_mb() {
    awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"
}

declare -A healthz_rate agreements_rate

# One tokendesk server on $1 (sqlite or postgres): /healthz, then the agreements with a key.
measure_tokendesk() {
    local database=$1 folder="$work/$1"
    mkdir -p "$folder"
    if [ "$database" = postgres ]; then
        pg_database="tokendesk_bench_$$"
        psql "$admin_url" -qc "CREATE DATABASE $pg_database"
        # Loopback: no TLS, as the tests (TLS would measure OpenSSL, not tokendesk).
        export DATABASE_URL="${admin_url%/*}/$pg_database?sslmode=disable&gssencmode=disable"
    else
        export DATABASE_URL="$folder/tokendesk.db"
    fi
    export TOKENDESK_BIND=127.0.0.1:0 RUST_LOG=warn
    (cd "$folder" && exec "$binary" serve --demo >"$folder/out" 2>"$folder/err") &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q "shown only this once" "$folder/out" 2>/dev/null && break
        sleep 0.1
    done
    local base key
    base=$(grep -o 'http://[0-9.:]*' "$folder/out" | head -n 1 || true)
    [ -n "$base" ] || { echo "the server did not start:" >&2; cat "$folder/err" >&2; exit 1; }
    local idle_mb signed_in_mb password
    idle_mb=$(resident_mb "$pid")
    password=$(awk '/password:/ {print $2}' "$folder/out")
    sign_ins "$base" "$password"
    signed_in_mb=$(resident_mb "$pid")
    key=$(cd "$folder" && "$binary" token create --account "Front Street Inc" --name "Benchmark" --modules all)
    curl -sf -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10" >/dev/null

    # A short warm-up of both, then the measured runs.
    wrk -t1 -c4 -d2s "$base/healthz" >/dev/null
    wrk -t1 -c4 -d2s -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10" >/dev/null
    healthz_rate[$database]=$(rate "$base/healthz")
    agreements_rate[$database]=$(rate -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10")
    # The same key and API machinery without the database: who is calling (a small answer).
    local context
    context=$(rate -H "Authorization: ApiKey $key" "$base/public/v1/auth/context")
    # The request's work apart from HTTP and the key, as tokendesk does it
    # (examples/agreements_rate: the statement, the decoding of its rows and the JSON answer
    # made of them, on two threads, each with its own connection).
    local account in_process
    if [ "$database" = postgres ]; then
        account=$(psql "$DATABASE_URL" -Atc "SELECT id FROM accounts WHERE name = 'Front Street Inc'")
    else
        account=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT id FROM accounts WHERE name = ?", ("Front Street Inc",)).fetchone()[0])' "$DATABASE_URL")
    fi
    in_process=$("$statement_rate" "$DATABASE_URL" "$account" "$seconds" 2)
    # The same key with a rate limit (the highest there is, so that none of the run is refused):
    # what counting every request against it costs.
    local limited refused
    local set_limit="UPDATE tokens SET rate_limit = 100000 WHERE id = '${key%%:*}'"
    if [ "$database" = postgres ]; then
        psql "$DATABASE_URL" -qc "$set_limit"
    else
        python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' \
            "$DATABASE_URL" "$set_limit"
    fi
    curl -sf -o /dev/null -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10"
    read -r limited refused < <(limited_rate "${agreements_rate[$database]}" \
        -H "Authorization: ApiKey $key" "$base/public/v1/agreements?limit=10")
    local loaded_mb
    loaded_mb=$(resident_mb "$pid")

    echo "== tokendesk on $database"
    echo "GET /healthz:                                 ${healthz_rate[$database]} requests/s"
    echo "GET /public/v1/agreements?limit=10 (ApiKey):  ${agreements_rate[$database]} requests/s"
    echo "GET /public/v1/auth/context (ApiKey, no database): $context requests/s"
    echo "the page and its JSON alone, in-process:       $in_process pages/s (examples/agreements_rate, 2 threads)"
    # Were the request nothing but /auth/context's work plus that, one after the other on the
    # same cores (its answer 2 KB longer for nothing), it could not be faster.
    local ceiling
    ceiling=$(awk -v c="$context" -v s="$in_process" 'BEGIN { printf "%.0f", 1 / (1 / c + 1 / s) }')
    echo "ceiling, context and the page in turn:         $ceiling requests/s (ratio to healthz $(ratio "$ceiling" "${healthz_rate[$database]}"))"
    if [ "$database" = postgres ]; then
        # PostgreSQL's own figures, same server, same run: its standard read-only benchmark on a
        # scratch database, and the request's one statement alone, prepared as tokendesk's
        # connections have it (PostgreSQL settles on one plan for it after five executions), and
        # the same statement with OFFSET, as a later page asks it and as the first page asked it
        # before 2026-12-08 (with an OFFSET parameter PostgreSQL plans each execution anew; a
        # plan_cache_mode of force_generic_plan on every connection would spare that, but made
        # the tokens list 25 times slower, so only the statement changed).
        local statement offset pgbench_rate
        statement=$(pgbench_tps -n -M prepared -f bench/agreements.sql -D "account=$account" \
            -D limit=10 "$DATABASE_URL")
        offset=$(pgbench_tps -n -M prepared -f bench/agreements-offset.sql -D "account=$account" \
            -D limit=10 -D offset=0 "$DATABASE_URL")
        psql "$admin_url" -qc "CREATE DATABASE ${pg_database}_pgbench"
        local scratch="${admin_url%/*}/${pg_database}_pgbench?sslmode=disable&gssencmode=disable"
        pgbench -i -q -s 1 "$scratch" >/dev/null 2>&1
        pgbench_rate=$(pgbench_tps -S -M prepared "$scratch")
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS ${pg_database}_pgbench WITH (FORCE)" >/dev/null
        echo "ratio agreements/healthz:                     $(ratio "${agreements_rate[$database]}" "${healthz_rate[$database]}")"
        echo "pgbench -S -M prepared -c 8 -j 2:             $pgbench_rate transactions/s"
        echo "ratio agreements/pgbench:                     $(ratio "${agreements_rate[$database]}" "$pgbench_rate") (target >= 0.50)"
        echo "the agreements statement alone (pgbench -f):  $statement transactions/s (with OFFSET: $offset)"
        # Were the request nothing but /healthz's HTTP work plus that statement, one after the
        # other on the same cores, it could not be faster than this.
        echo "ceiling, healthz and the statement in turn:   $(awk -v h="${healthz_rate[$database]}" -v s="$statement" 'BEGIN { printf "%.0f", 1 / (1 / h + 1 / s) }') requests/s (ratio to pgbench $(awk -v h="${healthz_rate[$database]}" -v s="$statement" -v p="$pgbench_rate" 'BEGIN { printf "%.2f", 1 / (1 / h + 1 / s) / p }'))"
        echo "ceiling, context and the page in turn:         ratio to pgbench $(ratio "$ceiling" "$pgbench_rate")"
    else
        echo "ratio agreements/healthz:                     $(ratio "${agreements_rate[$database]}" "${healthz_rate[$database]}") (target >= 0.50)"
    fi
    echo "same key limited to 100 000/min:              $limited requests/s ($refused not 200)"
    echo "ratio limited/unlimited key:                  $(ratio "$limited" "${agreements_rate[$database]}")"
    echo "resident memory idle, after 50 sign-ins, after the load: $idle_mb, $signed_in_mb, $loaded_mb MB (targets < 40, < 40, < 100)"

    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    if [ -n "$pg_database" ]; then
        psql "$admin_url" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null
        pg_database=""
    fi
}

# The DRF peer: the same 10 agreements, djangorestframework-api-key, gunicorn with 2 workers.
measure_peer() {
    local venv="$PWD/target/bench-peer" folder="$work/peer" port
    if [ ! -x "$venv/bin/gunicorn" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/peer/requirements.txt
    fi
    mkdir -p "$folder"
    export PEER_DATABASE="$folder/peer.db"
    "$venv/bin/python" bench/peer/manage.py migrate -v0
    local key
    key=$("$venv/bin/python" bench/peer/manage.py seed)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$venv/bin/gunicorn" --chdir bench/peer --workers 2 --bind "127.0.0.1:$port" \
        --log-level warning peer.wsgi 2>"$folder/err" &
    pid=$!
    local base="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
        curl -sf "$base/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf -H "Authorization: Api-Key $key" "$base/public/v1/agreements?limit=10" >/dev/null \
        || { echo "the peer does not answer:" >&2; cat "$folder/err" >&2; exit 1; }
    wrk -t1 -c4 -d2s -H "Authorization: Api-Key $key" "$base/public/v1/agreements?limit=10" >/dev/null
    local peer_rate
    peer_rate=$(rate -H "Authorization: Api-Key $key" "$base/public/v1/agreements?limit=10")
    echo "== DRF + djangorestframework-api-key under gunicorn (2 workers), SQLite"
    echo "GET /public/v1/agreements?limit=10 (Api-Key): $peer_rate requests/s"
    for database in $databases; do
        echo "tokendesk on $database / peer:                $(ratio "${agreements_rate[$database]}" "$peer_rate") (target >= 15)"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

for database in $databases; do
    measure_tokendesk "$database"
done
if [ "$peer" = 1 ]; then
    measure_peer
fi

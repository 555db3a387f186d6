#!/usr/bin/env bash
# The Tokens list with 100 000 tokens in one account: median page time per page/filter/sort, as
# wrk measures it on 127.0.0.1 with one connection (SPEC target: median < 20 ms, any page, any
# filter).
#
#   bash bench/list.sh                        # SQLite
#   BENCH_DATABASE=postgres bash bench/list.sh
#
# Env: BENCH_TOKENS (default 100000), BENCH_SECONDS per page (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

tokens=${BENCH_TOKENS:-100000}
seconds=${BENCH_SECONDS:-3}
command -v wrk >/dev/null || { echo "bench/list.sh needs wrk (apt-get install wrk)" >&2; exit 1; }

cargo build --release --locked --quiet --bin tokendesk
binary="$PWD/target/release/tokendesk"
work=$(mktemp -d)
pid=""
pg_database=""
admin_url=${TOKENDESK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    [ -n "$pg_database" ] && psql "$admin_url" -qc "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ "${BENCH_DATABASE:-sqlite}" = postgres ]; then
    pg_database="tokendesk_listbench_$$"
    psql "$admin_url" -qc "CREATE DATABASE $pg_database"
    export DATABASE_URL="${admin_url%/*}/$pg_database?sslmode=disable&gssencmode=disable"
else
    export DATABASE_URL="$work/tokendesk.db"
fi
export TOKENDESK_BIND=127.0.0.1:0 RUST_LOG=warn

start() {
    (cd "$work" && exec "$binary" serve >"$work/out" 2>"$work/err") &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q "tokendesk is ready" "$work/out" 2>/dev/null && break
        sleep 0.1
    done
    base=$(grep -o 'http://[0-9.:]*' "$work/out" | head -n 1 || true)
    [ -n "$base" ] || { echo "the server did not start:" >&2; cat "$work/err" >&2; exit 1; }
}

# First start: the account and its admin; the password is printed once.
start
sleep 0.5
password=$(awk '/password:/ {print $2}' "$work/out")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

# The tokens, written straight into the database (their secrets are never read by the list).
events=${BENCH_EVENTS:-500000}
fill_sql="
INSERT INTO tokens (id, account_id, name, description, external_id, extension_id, status,
    secret_digest, secret_ciphertext, created_at, created_by_id, created_by_name,
    updated_at, updated_by_id, updated_by_name)
SELECT %ID%, a.id, 'Bench token ' || i, 'Generated for the list benchmark', 'EXT-' || i,
    CASE i % 4 WHEN 0 THEN 'EXT-000' WHEN 1 THEN 'EXT-001' WHEN 2 THEN 'EXT-002' ELSE 'EXT-003' END,
    CASE WHEN i % 5 = 0 THEN 'inactive' ELSE 'active' END,
    'x', %BLOB%, %TOKEN_TIME%, u.id, u.name, %TOKEN_TIME%, u.id, u.name
FROM %SERIES%, accounts a, users u WHERE u.account_id = a.id;
-- Tokens were made a minute apart over 69 days: more than half are old enough for the least-privilege
-- advice, and none used a module. Each token holds one or two modules; every tenth holds All. A
-- third were used, long ago or lately.
INSERT INTO token_permissions (token_id, module_id, granted_at, granted_by_id, granted_by_name)
SELECT id, CASE WHEN abs(%HASH%) % 10 = 0 THEN 'MD-0000' ELSE 'MD-000' || (1 + abs(%HASH%) % 9) END,
    created_at, created_by_id, created_by_name FROM tokens;
INSERT INTO token_permissions (token_id, module_id, granted_at, granted_by_id, granted_by_name)
SELECT id, 'MD-0013', created_at, created_by_id, created_by_name FROM tokens WHERE abs(%HASH%) % 3 = 1;
UPDATE tokens SET last_used_at = %USED%, last_used_ip = '192.0.2.7' WHERE abs(%HASH%) % 3 = 2;
INSERT INTO events (account_id, kind, actor_id, actor_name, token_id, client_ip, occurred_at)
SELECT a.id, CASE i % 5 WHEN 0 THEN 'token.created' WHEN 1 THEN 'token.revealed' WHEN 2 THEN 'token.updated'
    WHEN 3 THEN 'user.signed_in' ELSE 'token.disabled' END, u.id, u.name, %EVENT_TOKEN%, '192.0.2.7', %TIME%
FROM %EVENT_SERIES%, accounts a, users u WHERE u.account_id = a.id;"
if [ -n "$pg_database" ]; then
    sql=${fill_sql//%ID%/"'SU-' || lpad((i / 1000000)::text, 3, '0') || '-' || lpad((i / 1000 % 1000)::text, 3, '0') || '-' || lpad((i % 1000)::text, 3, '0')"}
    sql=${sql//%BLOB%/"'\\x00'::bytea"}
    sql=${sql//%TOKEN_TIME%/"now() - (i || ' minutes')::interval"}
    sql=${sql//%TIME%/"now() - (i || ' seconds')::interval"}
    sql=${sql//%SERIES%/"generate_series(1, $tokens) AS i"}
    sql=${sql//%HASH%/"hashtext(id)"}
    sql=${sql//%USED%/"now() - ((abs(hashtext(id)) % 200) || ' days')::interval"}
    # Tokens are numbered 1..$tokens: event i concerns token i % $tokens + 1, one that exists.
    sql=${sql//%EVENT_TOKEN%/"'SU-' || lpad(((i % $tokens + 1) / 1000000)::text, 3, '0') || '-' || lpad(((i % $tokens + 1) / 1000 % 1000)::text, 3, '0') || '-' || lpad(((i % $tokens + 1) % 1000)::text, 3, '0')"}
    sql=${sql//%EVENT_SERIES%/"generate_series(1, $events) AS i"}
    psql "$DATABASE_URL" -qc "$sql"
    # As autovacuum would after a bulk load: statistics, and the visibility map that lets a count
    # read the index alone.
    psql "$DATABASE_URL" -qc "VACUUM ANALYZE"
else
    sql=${fill_sql//%ID%/"printf('SU-%03d-%03d-%03d', i / 1000000, i / 1000 % 1000, i % 1000)"}
    sql=${sql//%BLOB%/"x'00'"}
    sql=${sql//%TOKEN_TIME%/"datetime('now', '-' || i || ' minutes')"}
    sql=${sql//%TIME%/"datetime('now', '-' || i || ' seconds')"}
    sql=${sql//%HASH%/"(unicode(substr(id, 14)) + 7 * unicode(substr(id, 13)) + 49 * unicode(substr(id, 11)))"}
    sql=${sql//%USED%/"datetime('now', '-' || (abs(unicode(substr(id, 14)) * 13 + unicode(substr(id, 13)) * 7) % 200) || ' days')"}
    sql=${sql//%EVENT_TOKEN%/"printf('SU-%03d-%03d-%03d', (i % $tokens + 1) / 1000000, (i % $tokens + 1) / 1000 % 1000, (i % $tokens + 1) % 1000)"}
    sql=${sql//%SERIES%/"(SELECT i FROM series WHERE i <= $tokens) AS s"}
    sql=${sql//%EVENT_SERIES%/"(SELECT i FROM series WHERE i <= $events) AS e"}
    sql="CREATE TEMP TABLE series AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < max($tokens, $events)) SELECT i FROM n; ${sql}"
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2] + "; ANALYZE;"); c.commit()' "$DATABASE_URL" "$sql"
fi

start
jar="$work/cookies"
csrf=$(curl -s -c "$jar" -b "$jar" "$base/login" | grep -o 'name="csrf_token" value="[^"]*"' | sed 's/.*value="//; s/"$//')
curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "email=robert@frontstreet.example" \
    --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" "$base/login"
cookie=$(awk '$6 == "tokendesk_session" {print "tokendesk_session=" $7}' "$jar")
curl -sf -o /dev/null -H "Cookie: $cookie" "$base/integrations/tokens" || { echo "sign-in failed" >&2; exit 1; }

printf '%-58s %10s %10s\n' "page (${BENCH_DATABASE:-sqlite}, $tokens tokens)" "median" "99%"
worst=0
for page in \
    "/integrations/tokens" \
    "/integrations/tokens?page=2" \
    "/integrations/tokens?page=5000" \
    "/integrations/tokens?page=1000&per_page=100" \
    "/integrations/tokens?sort=name" \
    "/integrations/tokens?sort=-name&page=300" \
    "/integrations/tokens?sort=created&page=9000" \
    "/integrations/tokens?status=inactive" \
    "/integrations/tokens?status=active&page=500" \
    "/integrations/tokens?extension=zapier&page=100" \
    "/integrations/tokens?q=bench+token+9999" \
    "/integrations/tokens?q=SU-000-012" \
    "/integrations/tokens?status=inactive&extension=custom&sort=name&page=20" \
    "/integrations/tokens/review" \
    "/integrations/tokens/review?page=2000" \
    "/integrations/tokens/review?module=MD-0003" \
    "/integrations/tokens/review?module=MD-0000&status=active" \
    "/integrations/tokens/review?stale=90" \
    "/integrations/tokens/review?overgranted=1" \
    "/integrations/tokens/review?overgranted=1&page=300" \
    "/account/activity" \
    "/account/activity?page=1000" \
    "/account/activity?kind=user.signed_in" \
    "/account/activity?token=SU-000-012-345" \
    "/account/activity?from=2020-01-01&to=2020-12-31"; do
    report=$(wrk -t1 -c1 -d"${seconds}s" --latency -H "Cookie: $cookie" "$base$page")
    median=$(echo "$report" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$report" | awk '$1 == "99%" {print $2}')
    printf '%-58s %10s %10s\n' "$page" "$median" "$p99"
done
echo "target: median < 20ms on every page"

# The whole review as CSV, streamed: the server's peak memory stays bounded.
before=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
started=$(date +%s.%N)
rows=$(curl -sf -H "Cookie: $cookie" "$base/integrations/tokens/review.csv" | wc -l)
finished=$(date +%s.%N)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
printf 'review.csv: %s lines in %.1fs; peak resident memory %d MB (before it: %d MB; target < 100 MB)\n' \
    "$rows" "$(echo "$finished - $started" | bc)" "$((peak / 1024))" "$((before / 1024))"

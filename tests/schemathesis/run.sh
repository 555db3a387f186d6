#!/usr/bin/env bash
# Fuzzes a served tokendesk against its own OpenAPI document with schemathesis (every check), on
# SQLite and on PostgreSQL: the document must say exactly what the API does. Any failure fails.
#
#   bash tests/schemathesis/run.sh [sqlite|postgres]…        (both by default)
#
# Each backend gets a fresh database (a SQLite file in a temporary folder; a scratch database on
# TOKENDESK_TEST_POSTGRES, dropped afterwards), `tokendesk serve --demo` on a free loopback
# port, and a key holding All made with `tokendesk token create`, which every request carries;
# hooks.py keeps the run from changing that key's token. Bounded and repeatable: at most
# SCHEMATHESIS_MAX_EXAMPLES cases per operation and phase, with a fixed seed (SCHEMATHESIS_SEED);
# about a minute per backend. Schemathesis is pinned in requirements.txt and installed in a
# virtualenv under target/, where it also keeps its reports and the failures `st replay` reads.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
SEED="${SCHEMATHESIS_SEED:-23}"
POSTGRES="${TOKENDESK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&gssencmode=disable}"
backends=("$@")
((${#backends[@]})) || backends=(sqlite postgres)

venv=$root/target/venv-schemathesis
work=$root/target/schemathesis
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/schemathesis/requirements.txt
cargo build --locked --quiet --bin tokendesk
binary="${CARGO_TARGET_DIR:-$root/target}/debug/tokendesk"

folder=""
server=""
database=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
    if [ -n "$database" ]; then
        psql "$POSTGRES" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
        database=""
    fi
    if [ -n "$folder" ]; then
        rm -rf "$folder"
        folder=""
    fi
}
trap cleanup EXIT

# Starts the server on the database at $1, in $folder (where it keeps its keys); sets $server
# and $base once it says where it listens.
serve() {
    (cd "$folder" && DATABASE_URL="$1" TOKENDESK_BIND=127.0.0.1:0 RUST_LOG=warn \
        exec "$binary" serve --demo >serve.out 2>serve.err) &
    server=$!
    for _ in $(seq 1 600); do
        base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$folder/serve.out" 2>/dev/null | head -n 1 || true)
        [ -n "$base" ] && return
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    cat "$folder/serve.err" >&2
    echo "tokendesk did not start on $backend" >&2
    exit 1
}

failed=()
for backend in "${backends[@]}"; do
    folder=$(mktemp -d)
    case "$backend" in
        sqlite) url="$folder/tokendesk.db" ;;
        postgres)
            database="tokendesk_schemathesis_$$_$RANDOM"
            psql "$POSTGRES" -qc "CREATE DATABASE $database" >/dev/null
            # The same server and options, the scratch database's name in the path.
            url=$(printf '%s' "$POSTGRES" | sed -E "s#/[^/?]*(\?|\$)#/$database\1#")
            ;;
        *) echo "unknown backend $backend: sqlite or postgres" >&2; exit 2 ;;
    esac
    serve "$url"
    key=$(cd "$folder" && DATABASE_URL="$url" RUST_LOG=warn "$binary" token create \
        --account "Front Street Inc" --name "Schemathesis" --modules all \
        --description "The key schemathesis runs with")
    echo "== schemathesis on $backend: $base, $MAX_EXAMPLES examples per operation, seed $SEED"
    started=$SECONDS
    mkdir -p "$work/$backend"
    if ! (cd "$work" && SCHEMATHESIS_HOOKS="$root/tests/schemathesis/hooks.py" \
        SCHEMATHESIS_OWN_TOKEN="${key%%:*}" \
        "$venv/bin/schemathesis" run "$base/public/v1/openapi.json" \
        --url "$base/public/v1" \
        --header "Authorization: ApiKey $key" \
        --checks all \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --generation-database none \
        --workers 1 \
        --report junit --report-dir "$work/$backend" \
        --no-color); then
        failed+=("$backend")
    fi
    echo "== $backend: $((SECONDS - started)) s"
    cleanup
done
if ((${#failed[@]})); then
    echo "schemathesis found failures on: ${failed[*]}" >&2
    exit 1
fi

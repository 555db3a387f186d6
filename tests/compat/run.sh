#!/usr/bin/env bash
# Runs the compatibility tests: the platform's Python client (connect-openapi-client) against a
# real tokendesk server on SQLite and on PostgreSQL. Makes its own virtualenv under target/.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/compat-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/compat/requirements.txt
cargo build --locked --quiet --bin tokendesk
TOKENDESK_BIN="$PWD/target/debug/tokendesk" "$venv/bin/python" -m pytest tests/compat -q -p no:cacheprovider "$@"

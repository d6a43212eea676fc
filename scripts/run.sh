#!/usr/bin/env bash
# Starts the Teamline demo: uses DATABASE_URL when set, otherwise a local
# PostgreSQL cluster of its own under .local/pg that is stopped again on exit.
set -euo pipefail
bin=${1:?usage: run.sh BINARY CONFIG}
config=${2:?usage: run.sh BINARY CONFIG}
here=$(cd "$(dirname "$0")/.." && pwd)
started_pg=
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL=$("$here/scripts/localpg.sh" start "$here/.local/pg" | tail -n 1)
  export DATABASE_URL
  started_pg=1
fi
stop_pg() {
  if [ -n "$started_pg" ]; then "$here/scripts/localpg.sh" stop "$here/.local/pg" >&2 || true; fi
}
trap stop_pg EXIT
trap 'kill -INT "$pid" 2>/dev/null || true' INT TERM
"$bin" serve --config "$config" &
pid=$!
# wait returns early when a trapped signal arrives; wait again for the exit.
wait "$pid" || wait "$pid" || true

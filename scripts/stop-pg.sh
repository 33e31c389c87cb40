#!/usr/bin/env bash
# Stops the PostgreSQL of scripts/start-pg.sh and removes its data.
set -euo pipefail
[ -n "${PGTMP:-}" ] && [ -d "$PGTMP/data" ] || exit 0
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null || true
rm -rf "$PGTMP"

#!/usr/bin/env bash
# Throwaway PostgreSQL for tests: no docker, no system cluster; data under $PGTMP.
# Prints shell assignments: eval "$(scripts/start-pg.sh)". Stop with scripts/stop-pg.sh.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGTMP=${PGTMP:-$(mktemp -d -t berth-pg.XXXXXX)}
PGPORT=${PGPORT:-55432}
chown postgres:postgres "$PGTMP"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust --no-sync >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w \
  -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" berth
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/berth?sslmode=disable PGTMP=$PGTMP PGBIN=$PGBIN"

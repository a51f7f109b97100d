#!/usr/bin/env bash
# scripts/pg-test-server.sh — a throwaway PostgreSQL server for the tests.
#
#   scripts/pg-test-server.sh start   → prints "ADMIN_URL DIR" (server running)
#   scripts/pg-test-server.sh stop DIR
#
# PostgreSQL refuses to run as root, so as root the server runs as the unprivileged
# `postgres` user that Debian's package creates; otherwise as the current user. Data,
# socket and log live in a fresh /tmp directory; it listens on 127.0.0.1 only, on a
# random free port, with trust auth (nothing else can reach it). fsync stays on: the
# tests and benchmarks measure durable commits.
set -euo pipefail

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$BIN" ]; then
  echo "pg-test-server: PostgreSQL is not installed (run scripts/setup.sh)" >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}

case "${1:-}" in
start)
  DIR=$(mktemp -d /tmp/colony-pg-XXXXXX)
  chmod 755 "$DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$DIR"; fi
  as_pg "'$BIN/initdb' -D '$DIR/data' -U postgres --auth=trust -E UTF8 --no-locale >'$DIR/initdb.log' 2>&1"
  for attempt in 1 2 3 4 5 6 7 8; do
    PORT=$((20000 + RANDOM % 30000))
    if as_pg "'$BIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -t 30 \
        -o \"-p $PORT -k '$DIR' -c listen_addresses=127.0.0.1 -c max_connections=400 \
            -c shared_buffers=128MB\" start >'$DIR/pg_ctl.log' 2>&1"; then
      echo "postgresql://postgres@127.0.0.1:$PORT/postgres $DIR"
      exit 0
    fi
  done
  echo "pg-test-server: could not start PostgreSQL; see $DIR/server.log" >&2
  cat "$DIR/server.log" >&2 || true
  exit 1
  ;;
stop)
  DIR=${2:?usage: pg-test-server.sh stop DIR}
  as_pg "'$BIN/pg_ctl' -D '$DIR/data' -m fast -w stop >/dev/null 2>&1" || true
  rm -rf "$DIR"
  ;;
*)
  echo "usage: $0 start | stop DIR" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# Dev PostgreSQL server for Tianwang's tests, from Debian's `postgresql` package.
#
#   scripts/postgres-dev.sh start    install the package if missing, initdb a throw-away cluster, start it on
#                                    127.0.0.1 (trust auth, small memory, no fsync), create the database
#                                    tianwang_test; prints TIANWANG_TEST_POSTGRES_URL=postgresql+psycopg://...
#                                    Does nothing but print the line when it already runs.
#   scripts/postgres-dev.sh stop     fast shutdown, delete the cluster
#   scripts/postgres-dev.sh status   say whether it runs, and where (exit 3 when it does not)
#   scripts/postgres-dev.sh url      print the URL of the running server (exit 3 when it does not run)
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` system user (created by the
# package), and its cluster lives in a temporary folder that user can reach (root's home cannot be
# entered by others); the state of the running server (cluster path, URL, log) stays in the cache.
#
# Environment: TIANWANG_CACHE (default ~/.cache/tianwang) holds the state; TIANWANG_POSTGRES_PORT (default: a
# free port); TIANWANG_POSTGRES_SHARED_BUFFERS (default 32MB); TIANWANG_POSTGRES_START_TIMEOUT (seconds, 60);
# PG_BINDIR to pick the binaries (default: the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

cache="${TIANWANG_CACHE:-$HOME/.cache/tianwang}"
state="$cache/postgres"
database=tianwang_test
superuser=postgres
shared_buffers="${TIANWANG_POSTGRES_SHARED_BUFFERS:-32MB}"
start_timeout="${TIANWANG_POSTGRES_START_TIMEOUT:-60}"

say() { printf 'postgres-dev: %s\n' "$*" >&2; }

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return 0; fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ]; then
    say "PostgreSQL is not installed: apt-get install -y postgresql (once)"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || { say "not root and no sudo: install the postgresql package yourself"; return 1; }
      sudo=sudo
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >&2 \
      || { $sudo apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >&2; }
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] || { say "the postgresql package gave no /usr/lib/postgresql/*/bin"; return 1; }
  fi
  echo "$dir"
}

# run a PostgreSQL binary as the user the server runs as (postgres when we are root)
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id "$superuser" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$superuser"
    (cd / && runuser -u "$superuser" -- "$@")
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# the cluster of the running server, if it runs (the state may outlive it: a killed session)
running_data() {
  [ -f "$state/data" ] && [ -f "$state/url" ] || return 1
  local data; data=$(cat "$state/data")
  [ -f "$data/cluster/postmaster.pid" ] || return 1
  local pid; pid=$(head -n 1 "$data/cluster/postmaster.pid")
  ps -p "$pid" -o args= 2>/dev/null | grep -qF -- "-D $data/cluster" || return 1
  echo "$data"
}

cmd_start() {
  if running_data >/dev/null; then
    say "already running ($(cat "$state/url"))"; echo "TIANWANG_TEST_POSTGRES_URL=$(cat "$state/url")"; return 0
  fi
  cmd_stop >/dev/null 2>&1 || true  # leftovers of a server that died
  local bindir port data log url t0
  bindir=$(find_bindir)
  port="${TIANWANG_POSTGRES_PORT:-$(free_port)}"
  mkdir -p "$state"
  data=$(mktemp -d "${TMPDIR:-/tmp}/tianwang-postgres.XXXXXX")
  log="$data/postgres.log"
  echo "$data" > "$state/data"
  if [ "$(id -u)" = 0 ]; then as_owner true; chown "$superuser:" "$data"; fi
  chmod 700 "$data"
  t0=$(date +%s.%N)
  as_owner "$bindir/initdb" -D "$data/cluster" -U "$superuser" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    --no-sync >"$state/initdb.log" 2>&1 || { say "initdb failed:"; tail -n 20 "$state/initdb.log" >&2; return 1; }
  # the socket lives in the cluster folder: nothing in /var/run/postgresql is needed
  as_owner "$bindir/pg_ctl" -D "$data/cluster" -l "$log" -w -t "$start_timeout" start -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $data/cluster -c shared_buffers=$shared_buffers \
     -c max_connections=60 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
    || { say "the server did not start; its log is $log:"; tail -n 20 "$log" >&2 || true; return 1; }
  as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$superuser" "$database"
  url="postgresql+psycopg://$superuser@127.0.0.1:$port/$database"
  echo "$url" > "$state/url"
  echo "$bindir" > "$state/bindir"
  say "ready on 127.0.0.1:$port in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')") s (cluster $data/cluster, log $log)"
  echo "TIANWANG_TEST_POSTGRES_URL=$url"
}

cmd_stop() {
  local data bindir
  if data=$(running_data); then
    bindir=$(cat "$state/bindir" 2>/dev/null || find_bindir)
    as_owner "$bindir/pg_ctl" -D "$data/cluster" -m fast -w stop >/dev/null || say "pg_ctl stop failed"
    say "stopped"
  fi
  if [ -f "$state/data" ]; then
    data=$(cat "$state/data")
    case "$data" in "${TMPDIR:-/tmp}"/tianwang-postgres.*) rm -rf "$data" ;; esac
  fi
  rm -f "$state/data" "$state/url" "$state/bindir"
}

cmd_status() {
  local data
  if data=$(running_data); then echo "running: $(cat "$state/url"), log $data/postgres.log"; else echo "not running"; return 3; fi
}

cmd_url() {
  running_data >/dev/null || { say "not running"; return 3; }
  cat "$state/url"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Dev Neo4j 5.26 server for Tianwang, built from Maven Central jars.
#
#   scripts/neo4j-dev.sh start    fetch the jars (cached), start Neo4j on 127.0.0.1 with auth off,
#                                 wait until Bolt answers; prints TIANWANG_NEO4J_URI=bolt://...
#   scripts/neo4j-dev.sh stop     SIGTERM, wait for a clean shutdown, delete the data folder (not one
#                                 given in TIANWANG_NEO4J_HOME)
#   scripts/neo4j-dev.sh halt     SIGTERM and wait, keeping the data folder and the port: the next
#                                 start serves the same graph on the same address (an outage)
#   scripts/neo4j-dev.sh kill     SIGKILL, keeping the data folder and the port (a crash)
#   scripts/neo4j-dev.sh status   say whether it runs, and where
#
# Environment: TIANWANG_CACHE (default ~/.cache/tianwang) holds the jars, the compiled launcher
# and the state of the running server; TIANWANG_NEO4J_STATE (default $TIANWANG_CACHE/neo4j-dev) the
# state alone, so that a test can run a server of its own; TIANWANG_NEO4J_PORT (default: a free port);
# TIANWANG_NEO4J_HEAP (default 1g); TIANWANG_NEO4J_PAGECACHE (bytes, default 256 MiB);
# TIANWANG_NEO4J_START_TIMEOUT (seconds, default 180); JAVA17_HOME to pick the JDK;
# TIANWANG_NEO4J_HOME: serve the Neo4j home at this folder (one `tianwang ingest --neo4j-import` built, say)
# instead of a new one in a temporary folder; `stop` then keeps it (it deletes only a folder it made).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$here/neo4j_dev"
cache="${TIANWANG_CACHE:-$HOME/.cache/tianwang}"
version=$(sed -n 's:.*<neo4j.version>\(.*\)</neo4j.version>.*:\1:p' "$src/pom.xml")
lib="$cache/neo4j-$version/lib"
state="${TIANWANG_NEO4J_STATE:-$cache/neo4j-dev}"
heap="${TIANWANG_NEO4J_HEAP:-1g}"
pagecache="${TIANWANG_NEO4J_PAGECACHE:-268435456}"
start_timeout="${TIANWANG_NEO4J_START_TIMEOUT:-180}"

say() { printf 'neo4j-dev: %s\n' "$*" >&2; }

# shellcheck source=lib/java17.sh
. "$here/scripts/lib/java17.sh"
find_java() { find_java17; }

fetch_jars() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  say "fetching Neo4j $version jars from Maven Central into $lib (once)"
  command -v mvn >/dev/null || { say "Maven (mvn) is needed to fetch the jars: apt-get install -y maven"; return 1; }
  rm -rf "$lib"; mkdir -p "$lib"
  JAVA_HOME="$java_home" mvn -q -B -f "$src/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$lib" -DincludeScope=runtime >&2
  touch "$lib/.complete"
}

compile_launcher() {
  local sum classes
  sum=$(sha256sum "$src/Launcher.java" | cut -c1-16)
  classes="$cache/neo4j-$version/launcher-$sum"
  if [ ! -f "$classes/Launcher.class" ]; then
    mkdir -p "$classes"
    "$java_home/bin/javac" -nowarn -cp "$lib/*" -d "$classes" "$src/Launcher.java" >&2
  fi
  echo "$classes"
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

running_pid() {
  [ -f "$state/pid" ] || return 1
  local pid; pid=$(cat "$state/pid")
  # the pid file may outlive the process (a killed session): check that it is our launcher
  ps -p "$pid" -o args= 2>/dev/null | grep -q 'Launcher' && echo "$pid"
}

bolt_answers() {  # a Bolt handshake: the server answers with 4 bytes of version
  python3 - "$1" <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
        s.sendall(bytes.fromhex("6060b017") + bytes.fromhex("00000005") + bytes(12))
        sys.exit(0 if len(s.recv(4)) == 4 else 1)
except OSError:
    sys.exit(1)
PY
}

cmd_start() {
  if pid=$(running_pid); then
    say "already running (pid $pid)"; echo "TIANWANG_NEO4J_URI=$(cat "$state/uri")"; return 0
  fi
  java_home=$(find_java)
  fetch_jars
  local classes port home log t0
  classes=$(compile_launcher)
  mkdir -p "$state"
  if [ -f "$state/home" ] && [ -d "$(cat "$state/home")" ] && [ -f "$state/port" ]; then
    # halted or killed earlier: the same graph on the same address
    home=$(cat "$state/home"); port="${TIANWANG_NEO4J_PORT:-$(cat "$state/port")}"
    say "starting again on the kept data folder $home"
  else
    port="${TIANWANG_NEO4J_PORT:-$(free_port)}"
    if [ -n "${TIANWANG_NEO4J_HOME:-}" ]; then
      mkdir -p "$TIANWANG_NEO4J_HOME"
      home=$(cd "$TIANWANG_NEO4J_HOME" && pwd)
      touch "$state/home-given"  # not ours: stop keeps it
    else
      home=$(mktemp -d "${TMPDIR:-/tmp}/tianwang-neo4j.XXXXXX")
      rm -f "$state/home-given"
    fi
  fi
  log="$state/neo4j.log"
  echo "$home" > "$state/home"
  echo "$port" > "$state/port"
  t0=$(date +%s.%N)
  nohup "$java_home/bin/java" -Xms256m "-Xmx$heap" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    --enable-native-access=ALL-UNNAMED -Dio.netty.tryReflectionSetAccessible=true \
    -cp "$classes:$lib/*" Launcher "$home" 127.0.0.1 "$port" "$pagecache" > "$log" 2>&1 < /dev/null &
  echo $! > "$state/pid"
  echo "bolt://127.0.0.1:$port" > "$state/uri"
  local deadline=$(( $(date +%s) + start_timeout ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      say "Neo4j exited during start; its log is $log (debug log: $home/logs/debug.log):"
      tail -n 30 "$log" >&2 || true
      rm -f "$state/pid"; return 1
    fi
    if grep -q 'tianwang-neo4j: ready' "$log" 2>/dev/null && bolt_answers "$port"; then
      say "ready on bolt://127.0.0.1:$port in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')") s (pid $(cat "$state/pid"), log $log)"
      echo "TIANWANG_NEO4J_URI=bolt://127.0.0.1:$port"
      return 0
    fi
    sleep 0.5
  done
  say "Bolt did not answer within ${start_timeout}s; its log is $log (debug log: $home/logs/debug.log):"
  tail -n 30 "$log" >&2 || true
  cmd_stop || true
  return 1
}

cmd_stop() {
  local pid
  if pid=$(running_pid); then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then say "no clean stop within 60 s, killing pid $pid"; kill -KILL "$pid" || true; fi
    say "stopped (pid $pid)"
  fi
  if [ -f "$state/home" ] && [ ! -f "$state/home-given" ]; then rm -rf "$(cat "$state/home")"; fi
  rm -f "$state/pid" "$state/uri" "$state/home" "$state/port" "$state/home-given"
}

cmd_halt() {  # $1: TERM (a clean stop) or KILL (a crash); the data folder and the port stay
  local pid
  if pid=$(running_pid); then
    kill "-$1" "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then say "no stop within 60 s, killing pid $pid"; kill -KILL "$pid" || true; fi
    say "halted with SIG$1 (pid $pid); data kept in $(cat "$state/home")"
  fi
  rm -f "$state/pid" "$state/uri"
}

cmd_status() {
  if pid=$(running_pid); then echo "running: pid $pid, $(cat "$state/uri"), log $state/neo4j.log"; else echo "not running"; return 3; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  halt) cmd_halt TERM ;;
  kill) cmd_halt KILL ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|halt|kill|status" >&2; exit 2 ;;
esac

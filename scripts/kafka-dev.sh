#!/usr/bin/env bash
# Dev Apache Kafka 4.x broker for Tianwang's event stream, built from Maven Central jars: one node
# in KRaft mode (broker and controller in one process, no ZooKeeper) on 127.0.0.1.
#
#   scripts/kafka-dev.sh start    fetch the jars (cached), format a new log folder, start the broker,
#                                 wait until it answers; prints TIANWANG_KAFKA_BOOTSTRAP=127.0.0.1:PORT
#   scripts/kafka-dev.sh stop     SIGTERM, wait for a clean shutdown, delete the log folder
#   scripts/kafka-dev.sh status   say whether it runs, and where
#
# Environment: TIANWANG_CACHE (default ~/.cache/tianwang) holds the jars and the state of the running
# broker; TIANWANG_KAFKA_STATE (default $TIANWANG_CACHE/kafka-dev) the state alone, so that a test can
# run a broker of its own; TIANWANG_KAFKA_PORT (default: a free port); TIANWANG_KAFKA_HEAP (default
# 512m); TIANWANG_KAFKA_PARTITIONS (partitions of a topic created on first use, default 3);
# TIANWANG_KAFKA_START_TIMEOUT (seconds, default 120); JAVA17_HOME to pick the JDK.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$here/kafka_dev"
cache="${TIANWANG_CACHE:-$HOME/.cache/tianwang}"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$src/pom.xml")
lib="$cache/kafka-$version/lib"
state="${TIANWANG_KAFKA_STATE:-$cache/kafka-dev}"
heap="${TIANWANG_KAFKA_HEAP:-512m}"
partitions="${TIANWANG_KAFKA_PARTITIONS:-3}"
start_timeout="${TIANWANG_KAFKA_START_TIMEOUT:-120}"

say() { printf 'kafka-dev: %s\n' "$*" >&2; }

# shellcheck source=lib/java17.sh
. "$here/scripts/lib/java17.sh"

fetch_jars() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  say "fetching Kafka $version jars from Maven Central into $lib (once, about 45 MB)"
  command -v mvn >/dev/null || { say "Maven (mvn) is needed to fetch the jars: apt-get install -y maven"; return 1; }
  rm -rf "$lib"; mkdir -p "$lib"
  JAVA_HOME="$java_home" mvn -q -B -f "$src/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$lib" -DincludeScope=runtime >&2
  touch "$lib/.complete"
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

cluster_id() {  # what `kafka-storage.sh random-uuid` prints: 16 random bytes, URL-safe base64, no padding
  python3 - <<'PY'
import base64, os
while True:
    text = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not text.startswith("-"):  # Kafka never hands out an id a command line would take for an option
        print(text); break
PY
}

running_pid() {
  [ -f "$state/pid" ] || return 1
  local pid; pid=$(cat "$state/pid")
  # the pid file may outlive the process (a killed session): check that it is our broker
  ps -p "$pid" -o args= 2>/dev/null | grep -q 'kafka\.Kafka ' && echo "$pid"
}

broker_answers() {  # an ApiVersions request (v0): the broker answers with the same correlation id
  python3 - "$1" <<'PY'
import socket, struct, sys
client = b"kafka-dev"
request = struct.pack(">hhih", 18, 0, 7, len(client)) + client
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
        s.sendall(struct.pack(">i", len(request)) + request)
        head = s.recv(8)
        sys.exit(0 if len(head) == 8 and struct.unpack(">ii", head)[1] == 7 else 1)
except OSError:
    sys.exit(1)
PY
}

cmd_start() {
  if pid=$(running_pid); then
    say "already running (pid $pid)"; echo "TIANWANG_KAFKA_BOOTSTRAP=$(cat "$state/bootstrap")"; return 0
  fi
  java_home=$(find_java17)
  fetch_jars
  local port controller_port data log t0 jvm
  t0=$(date +%s.%N)
  mkdir -p "$state"
  rm -rf "$state/data"
  data="$state/data"
  port="${TIANWANG_KAFKA_PORT:-$(free_port)}"
  controller_port=$(free_port)
  while [ "$controller_port" = "$port" ]; do controller_port=$(free_port); done
  cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$data
num.partitions=$partitions
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  log="$state/kafka.log"
  rm -f "$log" "$state/stdout.log"
  jvm=("$java_home/bin/java" -Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
       -Djava.awt.headless=true "-Dkafka.logs.dir=$state" "-Dlog4j2.configurationFile=$src/log4j2.properties"
       -cp "$lib/*")
  "${jvm[@]}" kafka.tools.StorageTool format --cluster-id "$(cluster_id)" --config "$state/server.properties" \
      --ignore-formatted > "$state/format.log" 2>&1 || {
    say "formatting the log folder failed:"; cat "$state/format.log" >&2; return 1; }
  nohup "${jvm[@]}" kafka.Kafka "$state/server.properties" > "$state/stdout.log" 2>&1 < /dev/null &
  echo $! > "$state/pid"
  echo "127.0.0.1:$port" > "$state/bootstrap"
  local deadline=$(( $(date +%s) + start_timeout ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      say "Kafka exited during start; its log is $log (standard output: $state/stdout.log):"
      tail -n 30 "$log" "$state/stdout.log" >&2 || true
      rm -f "$state/pid"; return 1
    fi
    if grep -q 'Kafka Server started' "$log" 2>/dev/null && broker_answers "$port"; then
      say "ready on 127.0.0.1:$port in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')") s" \
          "(Kafka $version, pid $(cat "$state/pid"), log $log)"
      echo "TIANWANG_KAFKA_BOOTSTRAP=127.0.0.1:$port"
      return 0
    fi
    sleep 0.5
  done
  say "the broker did not answer within ${start_timeout}s; its log is $log:"
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
  rm -rf "$state/data"
  rm -f "$state/pid" "$state/bootstrap"
}

cmd_status() {
  if pid=$(running_pid); then
    echo "running: pid $pid, TIANWANG_KAFKA_BOOTSTRAP=$(cat "$state/bootstrap"), log $state/kafka.log"
  else
    echo "not running"; return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

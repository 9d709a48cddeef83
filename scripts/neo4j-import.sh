#!/usr/bin/env bash
# neo4j-admin's bulk importer (`neo4j-admin database import full`), built from Maven Central jars.
#
#   scripts/neo4j-import.sh HOME IMPORTER-ARGUMENTS...
#
# Imports into the database folders of the Neo4j home HOME (HOME/data/databases/<db> and
# HOME/data/transactions/<db>: where the dev server, scripts/neo4j-dev.sh with TIANWANG_NEO4J_HOME=HOME,
# finds them). The arguments are the importer's (--nodes=..., --relationships=..., the database name);
# `scripts/neo4j-import.sh HOME --help` lists them. The jars (org.neo4j:neo4j-import-tool, the version of
# neo4j_dev/pom.xml) are fetched once into $TIANWANG_CACHE/neo4j-import-VERSION/lib.
#
# Environment: TIANWANG_CACHE (default ~/.cache/tianwang); TIANWANG_NEO4J_IMPORT_HEAP (default 1g);
# TIANWANG_NEO4J_IMPORT_OFF_HEAP (the importer's --max-off-heap-memory, default 1g); JAVA17_HOME.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$here/neo4j_dev"
cache="${TIANWANG_CACHE:-$HOME/.cache/tianwang}"
version=$(sed -n 's:.*<neo4j.version>\(.*\)</neo4j.version>.*:\1:p' "$src/import-pom.xml")
server_version=$(sed -n 's:.*<neo4j.version>\(.*\)</neo4j.version>.*:\1:p' "$src/pom.xml")
lib="$cache/neo4j-import-$version/lib"
heap="${TIANWANG_NEO4J_IMPORT_HEAP:-1g}"
off_heap="${TIANWANG_NEO4J_IMPORT_OFF_HEAP:-1g}"

say() { printf 'neo4j-import: %s\n' "$*" >&2; }

if [ "$#" -lt 1 ]; then echo "usage: $0 HOME IMPORTER-ARGUMENTS..." >&2; exit 2; fi
if [ "$version" != "$server_version" ]; then
  say "neo4j_dev/import-pom.xml has Neo4j $version but the dev server (neo4j_dev/pom.xml) $server_version: make them equal"
  exit 2
fi
home=$1; shift

# shellcheck source=lib/java17.sh
. "$here/scripts/lib/java17.sh"
java_home=$(find_java17) || exit 1

if [ ! -f "$lib/.complete" ]; then
  say "fetching the Neo4j $version importer jars from Maven Central into $lib (once)"
  command -v mvn >/dev/null || { say "Maven (mvn) is needed to fetch the jars: apt-get install -y maven"; exit 1; }
  rm -rf "$lib"; mkdir -p "$lib"
  JAVA_HOME="$java_home" mvn -q -B -f "$src/import-pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$lib" -DincludeScope=runtime >&2
  touch "$lib/.complete"
fi

mkdir -p "$home/conf"
touch "$home/conf/neo4j.conf"
home=$(cd "$home" && pwd)
extra=()
case " $* " in *" --help "*|*" -h "*) ;; *) extra=("--max-off-heap-memory=$off_heap") ;; esac
NEO4J_HOME="$home" NEO4J_CONF="$home/conf" exec "$java_home/bin/java" -Xms128m "-Xmx$heap" -XX:+UseG1GC \
  -XX:+ExitOnOutOfMemoryError \
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
  --enable-native-access=ALL-UNNAMED \
  -cp "$lib/*" org.neo4j.cli.AdminTool database import full "${extra[@]}" "$@"

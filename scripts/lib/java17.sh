# Sourced by the Neo4j scripts: find_java17 prints the home of an OpenJDK 17 (JAVA17_HOME first), or says how to
# install one on standard error and fails. Neo4j 5.26 runs on Java 17 or 21.
find_java17() {
  local candidate
  for candidate in "${JAVA17_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 \
                   /usr/lib/jvm/java-17-openjdk /usr/lib/jvm/temurin-17-jdk-amd64; do
    if [ -n "$candidate" ] && [ -x "$candidate/bin/java" ]; then echo "$candidate"; return 0; fi
  done
  printf '%s\n' "OpenJDK 17 not found (looked in JAVA17_HOME and /usr/lib/jvm); Neo4j 5.26 needs Java 17 or 21." \
    "Install it: apt-get install -y openjdk-17-jdk-headless" >&2
  return 1
}

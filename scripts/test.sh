#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, starts the dev Neo4j unless
# TIANWANG_NEO4J_URI points at one and the dev PostgreSQL unless TIANWANG_TEST_POSTGRES_URL points at one,
# starts the dev Kafka broker unless TIANWANG_KAFKA_BOOTSTRAP points at one, when the stream extra
# (confluent-kafka) is installed (CI=true installs it and the spark extra; elsewhere the Kafka and Spark
# tests skip without them),
# installs Debian's chromium for the workbench's browser test unless TIANWANG_CHROMIUM names one, and
# Debian's nginx for the replica test behind a load balancer unless TIANWANG_NGINX names one,
# lints (ruff, mypy), checks the import contracts (layers), runs every test (slow, Neo4j and PostgreSQL ones
# included), and stops what it started. Extra arguments go to pytest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
"$here/scripts/bootstrap.sh"
venv="${TIANWANG_VENV:-$HOME/.cache/tianwang/venv}"
export PATH="$venv/bin:$PATH"

started_neo4j=""
started_postgres=""
started_kafka=""
cleanup() {
  if [ -n "$started_neo4j" ]; then "$here/scripts/neo4j-dev.sh" stop || true; fi
  if [ -n "$started_postgres" ]; then "$here/scripts/postgres-dev.sh" stop || true; fi
  if [ -n "$started_kafka" ]; then "$here/scripts/kafka-dev.sh" stop || true; fi
}
trap cleanup EXIT

if [ -z "${TIANWANG_NEO4J_URI:-}" ]; then
  if [ -n "${TIANWANG_NO_NEO4J:-}" ] && [ "${CI:-}" != "true" ]; then
    echo "test: TIANWANG_NO_NEO4J is set, Neo4j tests will skip" >&2
  else
    already_running=""
    "$here/scripts/neo4j-dev.sh" status >/dev/null 2>&1 && already_running=1
    line=$("$here/scripts/neo4j-dev.sh" start) || { echo "test: the dev Neo4j did not start" >&2; exit 1; }
    [ -n "$already_running" ] || started_neo4j=1
    export "${line?}"
  fi
fi

if [ -z "${TIANWANG_TEST_POSTGRES_URL:-}" ]; then
  if [ -n "${TIANWANG_NO_POSTGRES:-}" ] && [ "${CI:-}" != "true" ]; then
    echo "test: TIANWANG_NO_POSTGRES is set, PostgreSQL tests will skip" >&2
  else
    already_running=""
    "$here/scripts/postgres-dev.sh" status >/dev/null 2>&1 && already_running=1
    line=$("$here/scripts/postgres-dev.sh" start) || { echo "test: the dev PostgreSQL did not start" >&2; exit 1; }
    [ -n "$already_running" ] || started_postgres=1
    export "${line?}"
  fi
fi

# The event stream's and Spark's extras are optional (the quick start installs neither, nor a broker);
# CI runs their tests.
has_kafka_client() { "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; }
has_spark() { "$venv/bin/python" -c 'import pyspark, pyarrow, pandas' 2>/dev/null; }
if [ "${CI:-}" = "true" ] && { ! has_kafka_client || ! has_spark; }; then
  echo "test: installing the stream and spark extras (confluent-kafka, pyspark) for the Kafka and Spark tests" >&2
  if [ -x "$venv/bin/uv" ]; then
    VIRTUAL_ENV="$venv" "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -e "$here[stream,spark]" >&2
  else
    "$venv/bin/python" -m pip install --quiet -e "$here[stream,spark]" >&2
  fi
fi
has_spark || echo "test: the spark extra is not installed (pip install -e '.[spark]'), Spark tests will skip" >&2
if [ -z "${TIANWANG_KAFKA_BOOTSTRAP:-}" ]; then
  if ! has_kafka_client; then
    echo "test: the stream extra is not installed (pip install -e '.[stream]'), Kafka tests will skip" >&2
  elif [ -n "${TIANWANG_NO_KAFKA:-}" ] && [ "${CI:-}" != "true" ]; then
    echo "test: TIANWANG_NO_KAFKA is set, Kafka tests will skip" >&2
  else
    already_running=""
    "$here/scripts/kafka-dev.sh" status >/dev/null 2>&1 && already_running=1
    line=$("$here/scripts/kafka-dev.sh" start) || { echo "test: the dev Kafka broker did not start" >&2; exit 1; }
    [ -n "$already_running" ] || started_kafka=1
    export "${line?}"
  fi
fi

if [ -z "${TIANWANG_CHROMIUM:-}" ]; then
  if [ -n "${TIANWANG_NO_BROWSER:-}" ] && [ "${CI:-}" != "true" ]; then
    echo "test: TIANWANG_NO_BROWSER is set, browser tests will skip" >&2
  else
    line=$("$here/scripts/browser-dev.sh" ensure) || { echo "test: chromium could not be installed" >&2; exit 1; }
    export "${line?}"
  fi
fi

if [ -z "${TIANWANG_NGINX:-}" ]; then
  if [ -n "${TIANWANG_NO_NGINX:-}" ] && [ "${CI:-}" != "true" ]; then
    echo "test: TIANWANG_NO_NGINX is set, the replica test behind nginx will skip" >&2
  else
    line=$("$here/scripts/nginx-dev.sh" ensure) || { echo "test: nginx could not be installed" >&2; exit 1; }
    export "${line?}"
  fi
fi

echo "test: ruff" >&2
ruff check .
echo "test: import contracts (lint-imports, pyproject.toml [tool.importlinter])" >&2
lint-imports
echo "test: mypy" >&2
mypy
echo "test: pytest (TIANWANG_NEO4J_URI=${TIANWANG_NEO4J_URI:-unset}," \
  "TIANWANG_TEST_POSTGRES_URL=${TIANWANG_TEST_POSTGRES_URL:-unset}," \
  "TIANWANG_KAFKA_BOOTSTRAP=${TIANWANG_KAFKA_BOOTSTRAP:-unset})" >&2
# migrations/env.py runs only inside Alembic: not a module to import for doctests
python -m pytest -m "" --doctest-modules --ignore=tianwang/opsdb/migrations \
    tianwang graph_schema fixtures detectors embeddings api tests "$@"

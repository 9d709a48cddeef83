# The two commands of the README. Both install what they need on a fresh machine.
.PHONY: demo test bench neo4j-start neo4j-stop kafka-start kafka-stop lint help

VENV ?= $(or $(TIANWANG_VENV),$(HOME)/.cache/tianwang/venv)

help:
	@echo "make demo   install, then run the demo on the embedded store"
	@echo "make test   install, start the dev Neo4j (and Kafka with the stream extra), run every test, stop them"
	@echo "make bench  the benchmark suite at 10k, 100k and 1M (BENCH_ARGS=... to change; docs/benchmarks.md)"

demo:
	@scripts/bootstrap.sh
	$(VENV)/bin/tianwang demo

test:
	@scripts/test.sh

# the benchmark suite (docs/benchmarks.md): one table, bench-results.json and bench-latency.svg
BENCH_ARGS ?= --sizes 10000,100000,1000000 --repeat 3 --cache $(HOME)/.cache/tianwang/bench
bench:
	@scripts/bootstrap.sh
	$(VENV)/bin/python bench/suite.py $(BENCH_ARGS)

lint:
	@scripts/bootstrap.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

neo4j-start:
	@scripts/neo4j-dev.sh start

neo4j-stop:
	@scripts/neo4j-dev.sh stop

kafka-start:
	@scripts/kafka-dev.sh start

kafka-stop:
	@scripts/kafka-dev.sh stop

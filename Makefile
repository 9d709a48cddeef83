# The two commands of the README. Both install what they need on a fresh machine.
.PHONY: demo test neo4j-start neo4j-stop lint help

VENV ?= $(or $(TIANWANG_VENV),$(HOME)/.cache/tianwang/venv)

help:
	@echo "make demo   install, then run the demo on the embedded store"
	@echo "make test   install, start the dev Neo4j, run every test, stop Neo4j"

demo:
	@scripts/bootstrap.sh
	$(VENV)/bin/tianwang demo

test:
	@scripts/test.sh

lint:
	@scripts/bootstrap.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

neo4j-start:
	@scripts/neo4j-dev.sh start

neo4j-stop:
	@scripts/neo4j-dev.sh stop

# The two commands of the README: `make demo` (set up, train the digits CNN) and `make test`
# (set up, run every test suite). `.ci/run` runs `make test`.
BIN := .venv/bin

.PHONY: setup demo test test-core test-conformance test-plugins test-packaging test-bench

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/micrograd demo

test: setup
	$(MAKE) test-core test-conformance test-plugins test-packaging test-bench

test-core:
	$(BIN)/python -m pytest -q core/tests

test-conformance:
	$(BIN)/python -m pytest -q -p micrograd_conformance --pyargs micrograd_conformance --backend numpy

test-plugins:
	@for p in plugins/*/tests; do echo "== $$p"; $(BIN)/python -m pytest -q $$p || exit 1; done

test-packaging:
	@echo "(packaging tests: see issue 8)"

# Unit tests of the harness, then the whole smoke profile (every workload, contender and report).
test-bench:
	$(BIN)/python -m pytest -q benchmarks/tests
	$(BIN)/python -m benchmarks --profile smoke --out $${TMPDIR:-/tmp}/micrograd-bench-smoke

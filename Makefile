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

# The suite against the reference backend (with its report), then the suite's own tests.
test-conformance:
	$(BIN)/python -m pytest -q -p micrograd_conformance --pyargs micrograd_conformance --backend numpy \
		--conformance-report build/conformance/numpy
	$(BIN)/python -m pytest -q conformance/tests

test-plugins:
	@for p in plugins/*/tests; do echo "== $$p"; $(BIN)/python -m pytest -q $$p || exit 1; done

# Builds every wheel and sdist, installs them into fresh venvs (deps from the package index),
# scaffolds a plugin, installs the pure-Python example plugin and runs the conformance suite on it.
test-packaging:
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/packaging

# Unit tests of the harness, then the whole smoke profile (every workload, contender and report).
test-bench:
	$(BIN)/python -m pytest -q benchmarks/tests
	$(BIN)/python -m benchmarks --profile smoke --out $${TMPDIR:-/tmp}/micrograd-bench-smoke

# The two commands of the README: `make demo` (set up, train the digits CNN) and `make test`
# (set up, run every test suite). `.ci/run` runs `make test`.
BIN := .venv/bin

.PHONY: setup demo wheels test test-core test-conformance test-plugins test-packaging test-bench

setup:
	bash scripts/setup.sh

demo: setup
	$(BIN)/micrograd demo

# A wheel of every distribution (the core, the conformance suite, every plugin) in dist/, to
# install by name from there: pip install --find-links dist "micrograd[cpu,metal]" (README).
# The C++ plugin compiles in its own build folder, apart from the editable install's.
DISTRIBUTIONS := . conformance $(wildcard plugins/*)
wheels: setup
	@for d in $(DISTRIBUTIONS); do echo "== wheel: $$d"; \
		SKBUILD_BUILD_DIR=$(CURDIR)/build/wheels/$$(basename $$(realpath $$d)) \
			$(BIN)/python -m build --no-isolation --wheel --outdir dist $$d || exit 1; done
	@ls dist/*.whl

test: setup
	$(MAKE) test-core test-conformance test-plugins test-packaging test-bench

test-core:
	$(BIN)/python -m pytest -q core/tests

# The suite against every backend that runs here (with reports), then the suite's own tests.
# cuda is installed but has no GPU here: its own tests compile-check the kernels instead.
test-conformance:
	@for b in numpy cpu metal; do echo "== conformance: $$b"; \
		$(BIN)/python -m pytest -q -p no:cacheprovider --pyargs micrograd_conformance --backend $$b \
			--conformance-report build/conformance/$$b || exit 1; done
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

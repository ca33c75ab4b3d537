# The two commands of the README: `make demo` (set up, train the digits CNN) and `make test`
# (set up, run every test suite). `.ci/run` runs `make test`.
BIN := .venv/bin

.PHONY: setup demo wheels clean test test-core test-conformance test-plugins test-packaging test-bench test-asan \
	test-cuda-emulated

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

# The ignored build outputs, so that a fresh build starts from the sources: the C++ plugin's
# build folders (regular, wheels, ASan), egg-info, __pycache__, the wheels in dist/. Not the
# .venv (make setup), the demo's runs/ or benchmark results. The editable C++ plugin needs a
# rebuild afterwards (make setup, or the pip install -e of the README).
clean:
	rm -rf build dist _skbuild plugins/*/build plugins/*/_skbuild
	find . -path ./.venv -prune -o \( -name '*.egg-info' -o -name __pycache__ \) -type d -prune \
		-exec rm -rf {} +

test: setup
	$(MAKE) test-core test-conformance test-plugins test-packaging test-bench test-asan test-cuda-emulated

# Two workers, then the ported programs alone: they report their step times, which a second
# worker beside them would distort.
test-core:
	$(BIN)/python -m pytest -q -n 2 core/tests --ignore=core/tests/programs
	$(BIN)/python -m pytest -q core/tests/programs

# The suite against every backend that runs here (with reports), then the suite's own tests.
# cuda is installed but has no GPU here: its own tests compile-check the kernels instead.
test-conformance:
	@for b in numpy cpu metal; do echo "== conformance: $$b"; \
		$(BIN)/python -m pytest -q -p no:cacheprovider --pyargs micrograd_conformance --backend $$b \
			--conformance-report build/conformance/$$b || exit 1; done
	$(BIN)/python -m pytest -q conformance/tests

test-plugins:
	@for p in plugins/*/tests; do echo "== $$p"; $(BIN)/python -m pytest -q -n 2 $$p || exit 1; done

# Builds every wheel and sdist, installs them into fresh venvs (deps from the package index),
# scaffolds a plugin, installs the pure-Python example plugin and runs the conformance suite on it.
test-packaging:
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/packaging

# Unit tests of the harness, then the whole smoke profile (every workload, contender and report).
test-bench:
	$(BIN)/python -m pytest -q benchmarks/tests
	$(BIN)/python -m benchmarks --profile smoke --out $${TMPDIR:-/tmp}/micrograd-bench-smoke

# micrograd-cpu built with AddressSanitizer + UBSan in build/asan (beside the regular build,
# incremental), then its probe suite and a quick subset of its tests on that build
# (MICROGRAD_CPU_EXTENSION loads it in place of the installed extension). From scratch: about
# 2.5 CPU-minutes of compiling, then 35 s of tests (12 min wall on a 2-core machine at load 15).
# `tox -e asan` runs all of the plugin's tests and the conformance suite under the sanitizers,
# in a fresh environment.
ASAN_BUILD := build/asan
ASAN_TESTS := test_probes.py test_array.py test_threads.py test_binary_inplace.py test_reductions.py \
	test_attention_kernels.py test_recurrence.py test_small_gemm.py test_conv_kernels.py \
	test_conv_transpose_kernels.py
test-asan:
	$(BIN)/cmake -S plugins/micrograd-cpu -B $(ASAN_BUILD) -G Ninja -DMGCPU_SANITIZE=ON \
		-DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF \
		-DCMAKE_MAKE_PROGRAM=$(abspath $(BIN))/ninja -DPython_EXECUTABLE=$(abspath $(BIN))/python \
		-Dpybind11_DIR=$$($(BIN)/python -m pybind11 --cmakedir) >/dev/null
	$(BIN)/cmake --build $(ASAN_BUILD)
	MICROGRAD_CPU_EXTENSION=$$(ls $(abspath $(ASAN_BUILD))/_core*.so) \
		$(BIN)/python tests/packaging/scripts/with_asan.py $(BIN)/python -m pytest -q \
		-p no:cacheprovider $(addprefix plugins/micrograd-cpu/tests/,$(ASAN_TESTS))

# No GPU here: the conformance suite against the cuda backend's own code, with numpy standing in
# for CuPy and its CUDA kernels compiled for and run on the CPU (plugins/micrograd-cuda/tests).
test-cuda-emulated:
	PYTHONPATH=plugins/micrograd-cuda/tests $(BIN)/python -m pytest -q -n 2 -p no:cacheprovider \
		-p emulated_conformance -p micrograd_conformance --pyargs micrograd_conformance \
		--backend cuda_emulated

# The README's commands. Each runs `setup` first, which installs only what is missing.
.PHONY: setup test test-kernels demo bench clean

PYTHON := .venv/bin/python

setup:
	@bash scripts/setup.sh

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# The probe's kernel tests inside each stock Debian kernel, under qemu (scripts/test-kernels.sh).
test-kernels: setup
	@bash scripts/test-kernels.sh

demo: setup
	$(PYTHON) -m examples.demo

bench: setup
	$(PYTHON) -m bench $(BENCH_ARGS)

clean:
	rm -rf .venv .venv-kernels .pytest_cache build *.egg-info

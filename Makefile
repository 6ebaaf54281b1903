# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint demo install-test-deps clean

install: $(STAMP)

# torch first, pinned: a bare `torch` requirement can pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[export,dev,plot]"
	touch $(STAMP)

# System packages some tests use (OpenSSH server for the deploy test). Best effort.
install-test-deps:
	@command -v sshd >/dev/null 2>&1 || /usr/sbin/sshd -V >/dev/null 2>&1 || \
	  ( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client rsync) >/dev/null 2>&1 || \
	    echo "note: could not install openssh-server; the deploy test will be skipped" )

test: install install-test-deps
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check fftoolkit tests benchmarks

demo: install
	$(BIN)/python -m fftoolkit.demo

clean:
	rm -rf $(VENV) build dist *.egg-info

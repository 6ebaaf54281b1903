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

# System packages some tests use: Debian's OpenSSH server + client and rsync for the deploy
# tests (tests/firmware). Best effort: without them those tests skip and say why.
TEST_DEPS := /usr/sbin/sshd /usr/bin/ssh /usr/bin/scp /usr/bin/ssh-keygen /usr/bin/rsync
install-test-deps:
	@missing=""; for f in $(TEST_DEPS); do test -x $$f || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing openssh-server openssh-client rsync (missing:$$missing)"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  ( $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install \
	      -y -qq --no-install-recommends openssh-server openssh-client rsync ) >/dev/null 2>&1 \
	    || echo "note: could not install openssh-server/rsync; the SSH deploy tests will skip"; \
	fi

test: install install-test-deps
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check fftoolkit tests benchmarks

demo: install
	$(BIN)/fftk demo

clean:
	rm -rf $(VENV) build dist *.egg-info

# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint demo install-test-deps board-arm64 clean

install: $(STAMP)

# torch first, pinned: a bare `torch` requirement can pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[export,dev,plot]"
	touch $(STAMP)

# System packages some tests use: Debian's OpenSSH server + client and rsync for the deploy
# tests (tests/firmware); qemu-user-static, binfmt-support and debootstrap for the emulated
# arm64 board (tests/boards, `make board-arm64`); gcc-arm-none-eabi, libnewlib-arm-none-eabi
# and qemu-system-arm for the Cortex-M4 firmware (tests/firmware/test_mcu_firmware.py). Best effort: without them those tests skip
# and say why (unless FFTK_REQUIRE_EMULATORS=1, as in .ci/run: then they fail).
TEST_DEPS := /usr/sbin/sshd /usr/bin/ssh /usr/bin/scp /usr/bin/ssh-keygen /usr/bin/rsync \
	/usr/bin/qemu-aarch64-static /usr/sbin/update-binfmts /usr/sbin/debootstrap \
	/usr/bin/arm-none-eabi-gcc /usr/lib/arm-none-eabi/newlib/thumb/v7e-m/nofp/libc_nano.a \
	/usr/bin/qemu-system-arm
TEST_PACKAGES := openssh-server openssh-client rsync qemu-user-static binfmt-support debootstrap \
	gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
install-test-deps:
	@missing=""; for f in $(TEST_DEPS); do test -e $$f || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing $(TEST_PACKAGES) (missing:$$missing)"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  ( $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install \
	      -y -qq --no-install-recommends $(TEST_PACKAGES) ) >/dev/null 2>&1 \
	    || echo "note: could not install $(TEST_PACKAGES); the SSH deploy, emulated-board and Cortex-M4 tests will skip"; \
	fi

# An emulated 64-bit Raspberry Pi OS board (Debian 12 arm64 under qemu) with its sshd on
# 127.0.0.1, for `fftk deploy`; Ctrl-C stops it. See docs/BOARDS.md.
board-arm64: install-test-deps
	$(PYTHON) tools/emulated_board.py up

test: install install-test-deps
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check fftoolkit tests benchmarks tools

demo: install
	$(BIN)/fftk demo

clean:
	rm -rf $(VENV) build dist *.egg-info

"""Skip a test that needs an emulator (qemu, a cross toolchain) where it is missing, saying why;
under CI's FFTK_REQUIRE_EMULATORS=1 (set by .ci/run) the same reason fails the test instead.
Imported by name from any test folder (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

import os

import pytest


def skip_or_fail(reason: str, what: str = "emulated arm64 board") -> None:
    """Skip with the reason, or fail when CI requires the emulators."""
    if os.environ.get("FFTK_REQUIRE_EMULATORS") == "1":
        pytest.fail(f"FFTK_REQUIRE_EMULATORS=1 but the {what} cannot run: {reason}",
                    pytrace=False)
    pytest.skip(f"{what}: {reason}")

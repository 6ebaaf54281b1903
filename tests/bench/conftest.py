"""Bench test fixtures: the shared `tiny_bundle` comes from tests/conftest.py; `fftk()` (run the
CLI as a user does) from tests/runtime/runtime_helpers.py, the runtime tests' helper module."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

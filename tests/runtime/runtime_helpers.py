"""Helpers for the runtime tests: run `fftk` as a user does, and a Python that cannot import
torch (or any other named package)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BLOCKER = '''
import importlib.abc, sys
BLOCKED = {blocked!r}
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED or name in BLOCKED:
            raise ImportError(f"No module named {{name!r}} (blocked by the test)")
        return None
sys.meta_path.insert(0, _Block())
'''


def blocked_env(tmp: Path, blocked: list[str]) -> dict[str, str]:
    """Environment whose Python fails `import X` for every X in `blocked` (sitecustomize)."""
    site = tmp / f"block-{'-'.join(sorted(blocked)).replace('.', '_')}"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(blocked)))
    path = os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def fftk(*args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`fftk ARGS` in a fresh interpreter, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "fftoolkit.cli", *args], capture_output=True,
                          text=True, env=env or {**os.environ, "OMP_NUM_THREADS": "1"},
                          cwd=cwd, timeout=600)

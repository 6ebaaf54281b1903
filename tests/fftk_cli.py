"""Run `fftk` as a user does, and check the CLI's contract for user errors. Shared by every test
folder (tests/ is on sys.path through tests/conftest.py).

- `fftk(*args)`: the real CLI in a fresh interpreter (`python -m fftoolkit.cli`).
- `fftk_in_process(capsys, *args)`: the same entry point inside the test process (faster; for
  tests that monkeypatch the library). Both return a `subprocess.CompletedProcess[str]`.
- `one_line_error(result, *needles)`: exit 2, ONE `error: ...` line on stderr, no traceback.
- `cli_env(**extra)`: the environment for every process a test starts (OMP_NUM_THREADS=1, so the
  tests stay off the cores a training run is using).
- `blocked_env(tmp, packages)`: an environment whose Python cannot import those packages.

Output is decoded by hand, not in text mode: text mode turns the carriage returns of progress
bars into line breaks, and then a bar that was drawn and erased would count as a line.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cli_env(**extra: str) -> dict[str, str]:
    """os.environ as it is now (so FFTK_DATA set by tests/conftest.py is seen), with one
    OpenMP thread and `extra` on top."""
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def fftk(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 600, address_space: int | None = None
         ) -> subprocess.CompletedProcess[str]:
    """`fftk ARGS` in a fresh interpreter, as a user runs it. `env` replaces the environment
    (default `cli_env()`); `address_space` caps the child's virtual memory (RLIMIT_AS, bytes)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    proc = subprocess.run([sys.executable, "-m", "fftoolkit.cli", *map(str, args)],
                          capture_output=True, env=cli_env() if env is None else env, cwd=cwd,
                          timeout=timeout, preexec_fn=limit if address_space else None)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                       proc.stderr.decode())


def fftk_in_process(capsys: pytest.CaptureFixture[str], *args: object
                    ) -> subprocess.CompletedProcess[str]:
    """`fftk ARGS` through `fftoolkit.cli.main` in this process; stdout and stderr via capsys."""
    from fftoolkit.cli import main

    argv = [str(a) for a in args]
    saved, sys.argv = sys.argv, ["fftk", *argv]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["fftk", *argv], code, out, err)


def screen_lines(text: str) -> list[str]:
    """The non-blank lines a terminal would show: what follows a line's last carriage return
    (a progress bar erased with `\\r` is not a line)."""
    shown = (line.split("\r")[-1].rstrip() for line in text.split("\n"))
    return [line for line in shown if line]


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str,
                   last_line: bool = False) -> str:
    """The CLI's contract for user errors: exit code 2, exactly one stderr line, starting with
    `error: `, no traceback; every needle in that line, which is returned.

    last_line=True is for commands that legitimately log progress to stderr before failing
    (`fftk deploy` echoes each step): the error must then be the LAST line and the only line
    starting with `error`."""
    output = f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 2, output
    assert "Traceback" not in result.stderr, output
    lines = screen_lines(result.stderr)
    assert lines, output
    if last_line:
        assert sum(line.startswith("error") for line in lines) == 1, output
    else:
        assert len(lines) == 1, output
    line = lines[-1]
    assert line.startswith("error: "), output
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


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
    """Environment whose Python fails `import X` for every X in `blocked` (a sitecustomize on
    PYTHONPATH, ahead of the repo), e.g. a board without torch."""
    site = tmp / f"block-{'-'.join(sorted(blocked)).replace('.', '_')}"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(blocked)))
    path = os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")])
    return cli_env(PYTHONPATH=path)

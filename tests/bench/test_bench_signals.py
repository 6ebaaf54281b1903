"""SIGTERM, SIGINT or SIGHUP to `fftk bench` mid-run: it stops its worker, removes its temp
folder and exits with one line and 128 + the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fftk_cli import cli_env


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid) and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False


def wait_for_worker(bench: subprocess.Popen[str], timeout_s: float = 300) -> int:
    """The pid of bench's worker once it runs (a generous bound only against hanging)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert bench.poll() is None, bench.communicate()[1]
        for pid in children(bench.pid):
            try:
                if b"fftoolkit.bench.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
            except OSError:
                continue
        time.sleep(0.1)
    raise AssertionError("no worker process appeared")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_stops_the_worker_and_removes_the_temp_folder(tiny_bundle: Path,
                                                               tmp_path: Path,
                                                               sig: signal.Signals) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = cli_env(TMPDIR=str(tmpdir))
    bench = subprocess.Popen(
        [sys.executable, "-m", "fftoolkit.cli", "bench", str(tiny_bundle),
         str(tiny_bundle.parent / "tree" / "val"), "--formats", "onnx-fp32",
         "--runs", "10000000", "--warmup", "0", "--no-probe", "--no-plot",
         "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    worker = None
    try:
        worker = wait_for_worker(bench)
        assert [p.name[:11] for p in tmpdir.iterdir()] == ["fftk-bench-"]
        bench.send_signal(sig)
        _, err = bench.communicate(timeout=120)
    finally:  # never leave either behind, whatever failed
        for pid in (bench.pid, worker):
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert bench.returncode == 128 + sig, err
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error")]
    assert errors == [err.strip().splitlines()[-1]], err
    assert f"interrupted by {sig.name}" in errors[0]
    assert not alive(worker)
    assert list(tmpdir.iterdir()) == []
    # no run finished, so nothing was logged (the folder itself is made before benchmarking)
    assert not any((tmp_path / "logs").iterdir())

"""The whole user path on an emulated 64-bit Raspberry Pi OS board (Debian 12 arm64 under qemu):
fftk export (the shipped FF_tiny, int8) -> fftk firmware -> fftk deploy over the board's own
sshd -> install.sh on arm64 (aarch64 wheels from the package index) -> bench, run and the
host-vs-board parity check on the board -> logs fetched back.

Emulation is ~500x slower than a board, so these runs use few images and timed runs (100
images, 20 runs, tflite-int8 and onnx-int8); users on real boards keep the defaults.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from emulated_board import Board, free_port
from fftk_cli import fftk, one_line_error

FORMATS = "tflite-int8,onnx-int8"
IMAGES = 100  # images for accuracy and parity under emulation
pytestmark = pytest.mark.slow


def deploy(board: Board, deploy_dir: Path, *args: object) -> subprocess.CompletedProcess:
    return fftk("deploy", deploy_dir, board.destination, "-p", board.port, "-i", board.key,
                "--known-hosts", board.known_hosts, *args)


@pytest.fixture(scope="module")
def shipped_bundle(shipped_tiny_bundle: Path) -> Path:
    """The shipped FF_tiny, int8 calibrated on bundled demo images (tests/conftest.py)."""
    return shipped_tiny_bundle


def firmware(bundle: Path, board: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("arm64-deploy") / f"tiny-{board}"
    result = fftk("firmware", bundle, "--board", board, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def rpi5_deploy(arm64_board: Board, shipped_bundle: Path,
                tmp_path_factory: pytest.TempPathFactory):
    """One full deploy to the emulated Pi 5: install, bench, parity; (deploy dir, results, CLI)."""
    deploy_dir = firmware(shipped_bundle, "rpi5", tmp_path_factory)
    results = tmp_path_factory.mktemp("arm64-results")
    result = deploy(arm64_board, deploy_dir, "--results", results, "--formats", FORMATS,
                    "--runs", 20, "--warmup", 2, f"--fftk-arg=--limit={IMAGES}",
                    "--fftk-arg=--no-probe", "--verify", "--verify-images", IMAGES)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    (fetched,) = results.iterdir()
    return deploy_dir, fetched, result


def test_board_is_arm64_with_the_pinned_core(arm64_board: Board):
    """The board's userland is aarch64, and qemu emulates a Cortex-A76 (no SVE), not `max`."""
    uname = arm64_board.ssh("uname -m && getconf LONG_BIT")
    assert uname.stdout.split() == ["aarch64", "64"], uname.stderr
    hwcap = arm64_board.ssh("python3 -c 'import ctypes; print(ctypes.CDLL(None).getauxval(16))'")
    assert hwcap.returncode == 0, hwcap.stderr
    assert not int(hwcap.stdout) >> 22 & 1  # HWCAP_SVE: qemu's default CPU has it, a Pi does not


def test_deploy_installs_and_benchmarks_on_arm64(rpi5_deploy):
    _, fetched, result = rpi5_deploy
    bench = [json.loads(p.read_text()) for p in sorted(fetched.glob("*.json"))
             if "p50_ms" in json.loads(p.read_text())]
    assert sorted(r["format"] for r in bench) == sorted(FORMATS.split(","))
    for record in bench:
        assert record["arch"] == "aarch64"
        assert record["emulated"] is True, record.get("emulator")
        assert "x86_64" in record["emulator"]
        assert record["n_eval"] == IMAGES and record["error"] is not None
        assert record["python"].startswith("3.11.")  # Debian 12 = Raspberry Pi OS bookworm
    assert "EMULATED: " in result.stdout and "x86_64 kernel" in result.stdout
    assert "* emulated (" in result.stdout  # the table: latencies are not hardware figures


def test_parity_between_the_host_and_the_arm64_board(rpi5_deploy):
    _, fetched, result = rpi5_deploy
    report = json.loads((fetched / "verify.json").read_text())
    rows = {row["format"]: row for row in report["rows"]}
    assert sorted(rows) == sorted(FORMATS.split(","))
    for row in rows.values():
        assert row["n"] == IMAGES
        # ARM int8 kernels round differently from x86's: classes mostly agree, not bit-exactly
        assert row["agreement_pct"] >= 95.0, row
        assert row["max_abs_score_diff"] < 0.2, row
    assert "emulated board vs this machine" in result.stdout and "agree %" in result.stdout


@pytest.fixture(scope="module")
def coral_dir(shipped_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return firmware(shipped_bundle, "coral-usb", tmp_path_factory)


def test_coral_without_an_edge_tpu_falls_back_and_a_failed_install_is_repaired(
        arm64_board: Board, rpi5_deploy, coral_dir: Path, tmp_path: Path):
    """A coral-usb deploy with no Edge TPU runs the CPU int8 model and says so: at firmware time
    when the bundle has no Edge TPU model (no edgetpu_compiler here), and on the board when the
    Edge TPU delegate does not load. Its first install fails (offline, no wheels): one line,
    exit 2, and a re-run repairs it."""
    notes = json.loads((coral_dir / "deploy.json").read_text())["notes"]
    assert any("runs the CPU int8 model (tflite-int8)" in note for note in notes), notes
    offline = deploy(arm64_board, coral_dir, "--remote-dir", "/root/coral",
                     "--results", tmp_path / "r1", "--install-arg=--offline")
    one_line_error(offline, "install.sh failed", last_line=True)
    rpi5_python = "/root/fftk-deploy/ff_tiny/.venv/bin/python"
    result = deploy(arm64_board, coral_dir, "--remote-dir", "/root/coral",
                    "--results", tmp_path / "r2", f"--install-arg=--site-packages-of={rpi5_python}",
                    "--runs", 5, "--warmup", 1, f"--fftk-arg=--limit={IMAGES // 4}",
                    "--fftk-arg=--no-probe")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    (fetched,) = (tmp_path / "r2").iterdir()
    records = [json.loads(p.read_text()) for p in fetched.glob("*.json")]
    assert [r["format"] for r in records] == ["tflite-int8"]
    assert records[0]["arch"] == "aarch64" and records[0]["emulated"] is True

    # a bundle with an Edge TPU model on a board without one: the board itself falls back
    script = ("cd /root/coral && .venv/bin/python -c \"import json; p = 'deploy.json'; "
              "c = json.load(open(p)); c['formats'] = ['edgetpu-int8', 'tflite-int8']; "
              "json.dump(c, open(p, 'w'))\" && .venv/bin/python fftk_board.py run "
              f"--log-dir /root/coral/logs/fallback -- --limit {IMAGES // 4}")
    board_run = arm64_board.ssh(script)
    assert board_run.returncode == 0, board_run.stdout + board_run.stderr[-2000:]
    assert "Edge TPU not usable here" in board_run.stderr
    assert "running the CPU int8 model (tflite-int8) instead" in board_run.stderr
    assert "predictions in /root/coral/logs/fallback/run-tflite-int8.json" in board_run.stdout


def test_board_without_that_python_or_port(arm64_board: Board, coral_dir: Path, tmp_path: Path):
    no_python = deploy(arm64_board, coral_dir, "--remote-python", "/usr/bin/python3.99",
                       "--results", tmp_path)
    one_line_error(no_python, "no Python at '/usr/bin/python3.99'", last_line=True)
    closed = fftk("deploy", coral_dir, arm64_board.destination, "-p", free_port(), "-i",
                  arm64_board.key, "--known-hosts", arm64_board.known_hosts,
                  "--results", tmp_path)
    one_line_error(closed, "cannot reach the board", last_line=True)


def test_a_32_bit_userland_is_refused_by_install_sh(arm64_board: Board, rpi5_deploy):
    """A Pi 4/5 running 32-bit Raspberry Pi OS has an aarch64 kernel but a 32-bit userland
    (getconf LONG_BIT = 32): install.sh stops before touching the venv (exit 3)."""
    script = ("mkdir -p /tmp/userland32 && printf '#!/bin/sh\\necho 32\\n' > "
              "/tmp/userland32/getconf && chmod +x /tmp/userland32/getconf && "
              "cd /root/fftk-deploy/ff_tiny && PATH=/tmp/userland32:$PATH sh install.sh")
    done = arm64_board.ssh(script)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "userland is 32-bit" in done.stderr
    still = arm64_board.ssh("/root/fftk-deploy/ff_tiny/.venv/bin/python -c 'import fftoolkit'")
    assert still.returncode == 0, still.stderr  # the installed runtime is untouched

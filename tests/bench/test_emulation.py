"""Emulation never passes for hardware: `detect_emulation` reads /proc (copies of real boards'
and of an x86-64 qemu-user lab host under proc_copies/), never the environment; logs, the
comparison table, `fftk bench`'s warnings and `fftk_board.py check` all carry it."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fftk_cli import blocked_env, cli_env

from fftoolkit.bench.bench import BenchReport
from fftoolkit.bench.emulation import arch_family, detect_emulation
from fftoolkit.bench.logs import CSV_NAME, FIELDS, append_csv
from fftoolkit.bench.sysinfo import machine_facts
from fftoolkit.bench.table import comparison_table, summarize

COPIES = Path(__file__).resolve().parent / "proc_copies"
REPO = Path(__file__).resolve().parents[2]
BOARD_SCRIPT = REPO / "firmware_templates" / "common" / "fftk_board.py"
NATIVE = {"emulated": False, "emulator": None}


def test_arch_families() -> None:
    assert {arch_family(m) for m in ("x86_64", "amd64", "i686", "i386")} == {"x86"}
    assert {arch_family(m) for m in ("aarch64", "arm64", "armv7l", "armv8l", "armv6l")} == {"arm"}
    assert arch_family("riscv64") == "riscv" and arch_family("") is None


@pytest.mark.parametrize("board", ["rpi5", "rpi4"])
@pytest.mark.parametrize("machine", ["aarch64", "armv7l"])  # 64- or 32-bit Raspberry Pi OS
def test_raspberry_pi_is_hardware(board: str, machine: str) -> None:
    assert detect_emulation(COPIES / board, machine=machine) == NATIVE


def test_rpi4_copy_exercises_the_cpuinfo_fallback() -> None:
    assert not (COPIES / "rpi4" / "sys" / "kernel" / "arch").exists()
    # an ARM kernel (told by "CPU implementer") running x86-64 code: box64/FEX-style emulation
    result = detect_emulation(COPIES / "rpi4", machine="x86_64")
    assert result["emulated"] is True and "x86_64 code on an arm kernel" in result["emulator"]


def test_qemu_user_on_an_x86_host_is_emulated() -> None:
    result = detect_emulation(COPIES / "x86_host", machine="aarch64")
    assert result["emulated"] is True
    assert "qemu-aarch64" in result["emulator"] and "x86_64" in result["emulator"]
    assert result["emulator"] == ("qemu-user: aarch64 code on an x86_64 kernel "
                                  "(binfmt_misc qemu-aarch64)")


def test_x86_host_native_code_is_hardware() -> None:
    assert detect_emulation(COPIES / "x86_host", machine="x86_64") == NATIVE
    assert detect_emulation(COPIES / "x86_host", machine="i686") == NATIVE  # same family


def test_qemu_user_without_kernel_arch_or_binfmt(tmp_path: Path) -> None:
    """An older kernel (no sys/kernel/arch): the host's x86 cpuinfo still tells the family."""
    shutil.copy(COPIES / "x86_host" / "cpuinfo", tmp_path / "cpuinfo")
    result = detect_emulation(tmp_path, machine="aarch64")
    assert result == {"emulated": True,
                      "emulator": "user-mode emulation: aarch64 code on an x86 kernel"}


@pytest.mark.parametrize(("compatible", "model"), [
    (b"linux,dummy-virt\0", b""),
    (b"riscv-virtio\0", b"riscv-virtio,qemu\0"),
    (b"", b"QEMU Virtual Machine\0"),
])
def test_qemu_virt_machine_is_emulated(tmp_path: Path, compatible: bytes, model: bytes) -> None:
    tree = tmp_path / "device-tree"
    tree.mkdir()
    (tree / "compatible").write_bytes(compatible)
    (tree / "model").write_bytes(model)
    (tmp_path / "sys" / "kernel").mkdir(parents=True)
    (tmp_path / "sys" / "kernel" / "arch").write_text("aarch64\n")
    result = detect_emulation(tmp_path, machine="aarch64")
    assert result["emulated"] is True and result["emulator"].startswith("QEMU virt machine")


def test_empty_or_unreadable_proc_is_unknown_not_a_crash(tmp_path: Path) -> None:
    assert detect_emulation(tmp_path, machine="aarch64") == NATIVE
    assert detect_emulation(tmp_path / "missing", machine="aarch64") == NATIVE
    (tmp_path / "file").write_text("not a folder")
    assert detect_emulation(tmp_path / "file", machine="aarch64") == NATIVE
    odd = tmp_path / "odd"
    (odd / "cpuinfo").mkdir(parents=True)  # read() fails with IsADirectoryError
    (odd / "sys" / "kernel" / "arch").mkdir(parents=True)
    (odd / "device-tree" / "model").mkdir(parents=True)
    assert detect_emulation(odd, machine="aarch64") == NATIVE
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "cpuinfo").write_bytes(b"\xff\xfe\x00 : \x80\n")
    assert detect_emulation(garbled, machine="") == NATIVE
    locked = tmp_path / "locked"
    shutil.copytree(COPIES / "x86_host", locked)
    os.chmod(locked, 0)
    try:
        result = detect_emulation(locked, machine="aarch64")
        assert result == (NATIVE if os.geteuid() != 0 else  # root reads it all the same
                          detect_emulation(COPIES / "x86_host", machine="aarch64"))
    finally:
        os.chmod(locked, 0o755)


def test_the_environment_is_never_consulted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FFTK_EMULATED", "EMULATED", "QEMU_LD_PREFIX", "QEMU_CPU", "container"):
        monkeypatch.setenv(name, "1")
    assert detect_emulation(COPIES / "rpi5", machine="aarch64") == NATIVE
    monkeypatch.setenv("FFTK_EMULATED", "0")
    assert detect_emulation(COPIES / "x86_host", machine="aarch64")["emulated"] is True


def test_machine_facts_here_are_native() -> None:
    """This test host runs x86-64 code on an x86-64 kernel (it has qemu-aarch64 registered in
    binfmt_misc, which alone must not count)."""
    facts = machine_facts()
    assert facts["emulated"] is False and facts["emulator"] is None


def _record(fmt: str, emulated: bool, emulator: str | None = None) -> dict:
    return {"timestamp": "2025-01-01T00:00:00", "model": "m", "format": fmt, "backend": "x",
            "size_bytes": 2048, "error": 10.0, "p50_ms": 2.0, "p95_ms": 2.5,
            "throughput_ips": 100.0, "peak_rss_mb": 50.0, "e2e_p50_ms": 3.0,
            "throughput_batch": 8, "emulated": emulated, "emulator": emulator}


QEMU = "qemu-user: aarch64 code on an x86_64 kernel (binfmt_misc qemu-aarch64)"


def test_table_marks_emulated_rows() -> None:
    rows = summarize([_record("tflite-int8", True, QEMU), _record("onnx-fp32", True, QEMU)])
    text = comparison_table(rows)
    assert "| tflite-int8* |" in text and "| onnx-fp32*   |" in text
    assert text.splitlines()[-1] == f"* emulated ({QEMU}): latencies are not hardware figures"
    native = comparison_table(summarize([_record("tflite-int8", False)]))
    assert "*" not in native and "emulated" not in native and "| tflite-int8 |" in native
    assert native.splitlines()[-1].startswith("| tflite-int8 |")


def test_bench_report_warns_when_emulated() -> None:
    warning = (f"warning: this machine is emulated ({QEMU}): latency is not representative "
               "of the hardware")
    assert BenchReport(records=[_record("tflite-int8", True, QEMU)]).warning_lines() == [warning]
    assert BenchReport(records=[_record("tflite-int8", False)]).warning_lines() == []


def test_logs_carry_emulation(tmp_path: Path) -> None:
    assert FIELDS[-2:] == ("emulated", "emulator")
    append_csv(tmp_path, _record("tflite-int8", True, QEMU))
    append_csv(tmp_path, _record("onnx-fp32", False))
    rows = list(csv.DictReader((tmp_path / CSV_NAME).open()))
    assert [(r["emulated"], r["emulator"]) for r in rows] == [("True", QEMU), ("False", "")]


def _board_folder(tmp_path: Path) -> Path:
    board = tmp_path / "board"
    board.mkdir()
    shutil.copy(BOARD_SCRIPT, board / "fftk_board.py")
    (board / "deploy.json").write_text(json.dumps({
        "model": "ff_tiny", "board": "rpi5", "board_title": "Raspberry Pi 5",
        "formats": ["onnx-fp32"], "threads": 1, "taskset": "", "runs": 1, "warmup": 0,
        "bundle": "bundle", "wheel": "wheels/fftoolkit-0.1.0-py3-none-any.whl"}))
    return board


def test_board_check_reports_emulation(tmp_path: Path) -> None:
    board = _board_folder(tmp_path)
    done = subprocess.run([sys.executable, "fftk_board.py", "check", "--json"], cwd=board,
                          capture_output=True, text=True, env=cli_env(), timeout=120)
    assert done.returncode in (0, 3), done.stderr
    report = json.loads(done.stdout)
    assert report["emulated"] is False and report["emulator"] is None  # native here
    people = subprocess.run([sys.executable, "fftk_board.py", "check"], cwd=board,
                            capture_output=True, text=True, env=cli_env(), timeout=120)
    assert "emulated: no" in people.stdout.splitlines()


def test_board_check_without_fftk_says_unknown(tmp_path: Path) -> None:
    board = _board_folder(tmp_path)
    env = blocked_env(tmp_path, ["fftoolkit"])
    done = subprocess.run([sys.executable, "fftk_board.py", "check", "--json"], cwd=board,
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 3, done.stderr  # fftoolkit itself is missing
    report = json.loads(done.stdout)
    assert report["emulated"] is None and report["emulator"] is None


def test_board_describe_shows_emulation() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("fftk_board_copy", BOARD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = {"python": "3.11.2", "bits": 64, "machine": "aarch64", "board": None,
              "packages": {}, "missing": [], "emulated": True, "emulator": QEMU}
    assert (f"emulated: yes, {QEMU}: latencies here are not hardware figures"
            in module.describe(report).splitlines())

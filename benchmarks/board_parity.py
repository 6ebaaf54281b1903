"""Host (x86-64) vs emulated arm64 board (Debian 12 = Raspberry Pi OS bookworm, qemu Cortex-A76):
does the board compute what the host computed? One row per format of the shipped FF_tiny.

    sudo .venv/bin/python benchmarks/board_parity.py [--images 500] \\
        [--out benchmarks/results/board-parity-arm64.json]

The user's path, end to end: `fftk export` (shipped FF_tiny, --target all --quantize int8,
calibrated on 256 CIFAR-10 training JPEGs) -> `fftk firmware --board rpi5` -> `fftk deploy`
to the emulated board (tools/emulated_board.py) with `--run run --verify --verify-images N`
(all four rpi5 formats; the demo set, i.e. N CIFAR-10 validation images) -> verify.json. The
JSON keeps the command, the host's CPU, the board's check report (emulated: true) and every
row; a markdown table goes to stdout for benchmarks/RESULTS.md. Needs root and the emulator
packages (make install-test-deps) and ../shared/data (or $FFTK_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import emulated_board  # noqa: E402

SHIPPED_TINY = REPO / "models" / "weights" / "ff_tiny-cifar10.safetensors"
FORMATS = "tflite-int8,tflite-fp32,onnx-fp32,onnx-int8"


def fftk(*args: object) -> None:
    argv = [sys.executable, "-m", "fftoolkit.cli", *map(str, args)]
    print("+ " + " ".join(argv[2:]), file=sys.stderr, flush=True)
    subprocess.run(argv, check=True)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def markdown(report: dict) -> str:
    lines = ["| format | n | class agreement % | max abs score diff | error % arm64 (emulated) | "
             "error % x86 host | arm64 runtime | x86 runtime |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["rows"]:
        lines.append(f"| {r['format']} | {r['n']} | {r['agreement_pct']:.1f} | "
                     f"{r['max_abs_score_diff']:.4f} | {r['error_pct_board']:.1f} | "
                     f"{r['error_pct_host']:.1f} | {r['board_runtime']} | {r['host_runtime']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "board-parity-arm64.json")
    ns = parser.parse_args()
    reason = emulated_board.unavailable()
    if reason:
        print(f"board_parity: cannot run the emulated board: {reason}", file=sys.stderr)
        return 2
    data = Path(os.environ.get("FFTK_SHARED_DATA") or REPO.parent / "shared" / "data")
    started = time.time()
    root = emulated_board.build_root(emulated_board.default_cache())
    with tempfile.TemporaryDirectory(prefix="fftk-parity-") as tmp:
        tmp_path = Path(tmp)
        bundle, deploy_dir, results = tmp_path / "ff_tiny", tmp_path / "tiny-rpi5", tmp_path / "r"
        fftk("export", SHIPPED_TINY, "--target", "all", "--quantize", "int8", "--calib-dataset",
             data / "cifar10" / "cifar10-train-jpeg.tar.gz", "--calib-samples", 256,
             "--eval-samples", 0, "--quiet", "--out", bundle)
        fftk("firmware", bundle, "--board", "rpi5", "--out", deploy_dir)
        with emulated_board.running_board(root, tmp_path / "board") as board:
            fftk("deploy", deploy_dir, board.destination, "-p", board.port, "-i", board.key,
                 "--known-hosts", board.known_hosts, "--results", results, "--run", "run",
                 "--fftk-arg=--limit=10", "--formats", FORMATS, "--verify",
                 "--verify-images", ns.images)
        (fetched,) = results.iterdir()
        report = json.loads((fetched / "verify.json").read_text())
    report["command"] = f"sudo .venv/bin/python benchmarks/board_parity.py --images {ns.images}"
    report["host"]["cpu_model"] = cpu_model()
    report["board_cpu"] = f"qemu-user {board.cpu} (emulated, not hardware)"
    report["wall_s"] = round(time.time() - started, 1)
    ns.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\n{ns.out} written ({report['wall_s']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The shipped improved-FF models on an emulated Cortex-M4: flash, RAM, arena, stack and
instructions per image (and per MAC) of the generated C engine, measured, not estimated.

    python benchmarks/mcu_cortex_m4.py [--images 4] [--models ff_tiny-cifar10,...] \\
        [--out benchmarks/results/mcu-cortex-m4.json]

Per model, the user's path: `fftk export WEIGHTS --target c --quantize int8` (calibrated on
256 training images of its dataset) -> `fftk firmware --board mps2-an386 --images N` (the
bundled CIFAR-10 demo set; MNIST validation images for the MNIST model) -> `make report`
(arm-none-eabi-gcc -O2, qemu-system-arm -M mps2-an386 -icount shift=0). Instructions are
EMULATED: QEMU counts executed instructions (1 ns of virtual time each, read through the
board's 25 MHz timer), not the cycles of a real Cortex-M4. Each row also says which parts of
the --part table the image fits and whether the classes printed under QEMU equal the host
build's (`make -C c host`, fftk_infer on the same int8 bytes). Needs gcc-arm-none-eabi,
libnewlib-arm-none-eabi, qemu-system-arm, cc and ../shared/data (or $FFTK_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from training_results import machine

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "models" / "weights"
MODELS = ["ff_tiny-cifar10", "ff_small-cifar10", "ff_medium-cifar10", "ff_optimal-cifar10",
          "ff_tiny_mnist-mnist"]
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm", "cc", "make")


def run(*argv: object, cwd: Path | None = None) -> str:
    argv = [str(a) for a in argv]
    print("+ " + " ".join(argv), file=sys.stderr, flush=True)
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fftk(*args: object) -> str:
    return run(sys.executable, "-m", "fftoolkit.cli", *args)


def mnist_images(data: Path, weights: Path, n: int, out: Path) -> Path:
    """MNIST validation images as an .npz for `fftk firmware --input` (the demo set is
    CIFAR-10)."""
    from fftoolkit.export.calib import load_images
    from fftoolkit.models import build_network_from_state, load_checkpoint

    state = load_checkpoint(weights)
    held = load_images(str(data / "mnist"), "val", n, state,
                       build_network_from_state(state).spec, seed=1)
    np.savez(out, images=held.images, labels=held.labels)
    return out


def same_as_host_build(fw: Path) -> bool:
    """Did the firmware print, per image, the bytes the host build computes for the same int8
    images (`make -C c host`, fftk_infer < images.bin)?"""
    from fftoolkit.firmware.mcu import printed_images

    run("make", "-s", "-C", fw / "c", "host")
    out = subprocess.run([fw / "c" / "build" / "fftk_infer"], input=(fw / "images.bin")
                         .read_bytes(), capture_output=True, check=True).stdout
    printed = printed_images((fw / "build" / "run.log").read_text())
    return len(printed) > 0 and b"".join(p.outputs for p in printed) == out


def dataset_of(name: str) -> str:
    return "mnist" if name.endswith("-mnist") else "cifar10/cifar10-train-jpeg.tar.gz"


def export_c(name: str, data: Path, bundle: Path) -> Path:
    """`fftk export WEIGHTS --target c --quantize int8`, calibrated on 256 training images of
    the model's dataset (its --target c includes the int8 TFLite model)."""
    fftk("export", WEIGHTS / f"{name}.safetensors", "--target", "c", "--quantize", "int8",
         "--calib-dataset", data / dataset_of(name), "--calib-samples", 256, "--eval-samples",
         0, "--quiet", "--out", bundle)
    return bundle


def measure(name: str, n_images: int, data: Path, tmp: Path) -> dict:
    from fftoolkit.firmware.templates import load_parts

    weights = WEIGHTS / f"{name}.safetensors"
    bundle, fw = export_c(name, data, tmp / name), tmp / f"{name}-m4"
    extra = (["--input", mnist_images(data, weights, n_images, tmp / f"{name}.npz")]
             if dataset_of(name) == "mnist" else [])
    fftk("firmware", bundle, "--board", "mps2-an386", "--images", n_images, *extra,
         "--out", fw)
    started = time.time()
    run("make", "-s", "report", cwd=fw)
    qemu_s = time.time() - started
    report = json.loads((fw / "c" / "report.json").read_text())
    fits = [p.name for p in load_parts().values()
            if report["flash_bytes"] <= p.flash_bytes and report["static_ram_bytes"] <= p.ram_bytes]
    keys = ("flash_bytes", "static_ram_bytes", "ram_bytes", "arena_bytes",
            "stack_high_water_bytes", "macs", "instructions_per_image", "instructions_min",
            "instructions_max", "instructions_per_mac", "calibration_expected",
            "calibration_measured", "agree_with_labels", "images")
    return {"model": name, **{k: report[k] for k in keys},
            "same_as_host_build": same_as_host_build(fw), "fits_parts": fits,
            "qemu_wall_s": round(qemu_s, 1), "compiler": report["compiler"],
            "opt": report["opt"], "qemu": report["qemu"]}


def markdown(rows: list[dict]) -> str:
    lines = ["| model | flash B | RAM B (arena + stack) | arena B | stack B | MACs/image | "
             "instructions/image (emulated) | instructions/MAC | fits | = host build |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['flash_bytes']:,} | {r['ram_bytes']:,} | "
                     f"{r['arena_bytes']:,} | {r['stack_high_water_bytes']:,} | {r['macs']:,} | "
                     f"{r['instructions_per_image']:,} | {r['instructions_per_mac']} | "
                     f"{', '.join(r['fits_parts']) or 'none'} | {r['same_as_host_build']} |")
    return "\n".join(lines)


def write_results(out: Path, what: str, script: str, rows: list[dict]) -> list[dict]:
    """Write `rows` (merged with `out`'s rows for the other models) as the JSON of `script`,
    with the command, host and time; returns the merged rows."""
    rows = merge_rows(out, rows)
    result = {"what": what, "command": " ".join([f"python benchmarks/{script}", *sys.argv[1:]]),
              "host": machine(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return rows


def merge_rows(out: Path, rows: list[dict]) -> list[dict]:
    """`rows` plus the rows already in `out` for models not measured now, in MODELS order, so a
    run for one model (`--models ff_optimal-cifar10`) keeps the others' figures."""
    old = json.loads(out.read_text())["rows"] if out.is_file() else []
    fresh = {r["model"] for r in rows}
    merged = [r for r in old if r["model"] not in fresh] + rows
    order = {m: i for i, m in enumerate(MODELS)}
    return sorted(merged, key=lambda r: order.get(r["model"], len(order)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "mcu-cortex-m4.json")
    ns = parser.parse_args()
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        print(f"mcu_cortex_m4: missing {', '.join(missing)} (make install-test-deps)",
              file=sys.stderr)
        return 2
    data = Path(os.environ.get("FFTK_SHARED_DATA") or REPO.parent / "shared" / "data")
    with tempfile.TemporaryDirectory(prefix="fftk-mcu-") as tmp:
        rows = [measure(name, ns.images, data, Path(tmp)) for name in ns.models.split(",")]
    rows = write_results(ns.out, "the generated C engine (int8, -O2) of each shipped improved-FF "
                         "model on a Cortex-M4, EMULATED: qemu-system-arm -M mps2-an386 -icount "
                         "shift=0; instructions counted by QEMU (1 ns of virtual time each, read "
                         "with the board's 25 MHz timer), not hardware cycles",
                         "mcu_cortex_m4.py", rows)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The board-side entry point: check the runtime, benchmark the bundle, or run inference.

Reads deploy.json (written by `fftk firmware`), picks the formats this board can run right now
(the Edge TPU model only when the bundle has one and the Edge TPU delegate loads, else the CPU
int8 model, saying which), and calls `fftk bench` / `fftk run` from this folder's venv with the
board's thread count and CPU pinning. Needs only the device requirements, never torch.

  .venv/bin/python fftk_board.py check              # exit 3 and say what is missing
  .venv/bin/python fftk_board.py bench [--runs N] [--threads N] [--input PATH] [-- OPTS]
  .venv/bin/python fftk_board.py run [--input PATH] [--log-dir DIR] [-- OPTS]
  .venv/bin/python fftk_board.py verify --input verify/images.npz --log-dir DIR  # deploy --verify
  .venv/bin/python fftk_board.py units              # systemd/ units for this folder and user

OPTS go to `fftk bench` / `fftk run` unchanged (see `.venv/bin/fftk bench --help`). Without
--input, both use the demo set packaged with fftk (500 CIFAR-10 validation images).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import shlex
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
EDGETPU_LIBRARY = "libedgetpu.so.1"
CPU_INT8 = "tflite-int8"
# (module to import, distribution that provides it); each format's own comes from fftk's
# formats table (fftoolkit.runtime.formats), the one definition of what a format needs.
BASE_MODULES = [("numpy", "numpy"), ("click", "click"), ("fftoolkit.runtime", "fftoolkit")]


def load_config() -> dict:
    """deploy.json, checked field by field by fftk (a deploy folder may come from anyone).

    Without the fftk runtime installed only `check` can run, and it needs just the formats."""
    try:
        from fftoolkit.firmware.render import load_deploy_config
    except ImportError:
        return json.loads((HERE / "deploy.json").read_text())
    return asdict(load_deploy_config(HERE))


def edgetpu_usable() -> bool:
    """The Edge TPU delegate loads: libedgetpu is installed and an Edge TPU answers."""
    try:
        from ai_edge_litert.interpreter import load_delegate
    except ImportError:
        return False
    # A failed load leaves a half-built delegate whose __del__ prints a traceback; keep it quiet.
    hook, sys.unraisablehook = sys.unraisablehook, lambda _: None
    try:
        load_delegate(EDGETPU_LIBRARY)
        return True
    except (ValueError, OSError, RuntimeError):
        return False
    finally:
        sys.unraisablehook = hook


def pick_formats(cfg: dict) -> list[str]:
    """deploy.json's formats, with the Edge TPU swapped for the CPU int8 model where unusable."""
    formats = list(cfg["formats"])
    if "edgetpu-int8" in formats and not edgetpu_usable():
        print(f"fftk: Edge TPU not usable here ({EDGETPU_LIBRARY} missing or no Edge TPU "
              f"attached): running the CPU int8 model ({CPU_INT8}) instead", file=sys.stderr)
        formats = [CPU_INT8 if f == "edgetpu-int8" else f for f in formats]
    return list(dict.fromkeys(formats))


def check(cfg: dict) -> dict:
    """What this board has: Python, word size, board model, whether it is emulated (qemu: its
    latencies are not hardware figures; None without fftk), and each runtime package needed."""
    needed = dict(BASE_MODULES)
    try:
        from fftoolkit.runtime.formats import get_format
    except ImportError:
        pass  # fftk itself does not import: the loop below reports it
    else:
        for fmt in cfg["formats"]:
            runs_on = get_format(fmt).runs_on
            if runs_on.module:  # the C engine needs a compiler (a program), not a package
                needed[runs_on.module] = runs_on.distribution
    packages, missing = {}, []
    for module, dist in needed.items():
        try:
            importlib.import_module(module)
            packages[dist] = metadata.version(dist)
        except Exception as exc:  # an ImportError, or a wheel that does not load on this CPU
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            missing.append(f"{dist} ({first})")
    try:
        from fftoolkit.bench.emulation import detect_emulation
    except ImportError:
        emulation = {"emulated": None, "emulator": None}
    else:
        emulation = detect_emulation()
    model = Path("/proc/device-tree/model")
    return {
        "python": platform.python_version(), "bits": struct.calcsize("P") * 8,
        "machine": platform.machine(),
        "board": model.read_bytes().rstrip(b"\0").decode(errors="replace") if model.exists()
        else None,
        "packages": packages, "missing": missing,
        "emulated": emulation["emulated"], "emulator": emulation["emulator"],
    }


def describe(report: dict) -> str:
    """The check report for people."""
    lines = [f"Python {report['python']} ({report['bits']}-bit, {report['machine']}), "
             f"board: {report['board'] or 'unknown'}",
             "ok: " + ", ".join(f"{k} {v}" for k, v in report["packages"].items())]
    emulated = report.get("emulated")
    lines.append(f"emulated: yes, {report['emulator']}: latencies here are not hardware figures"
                 if emulated else "emulated: no" if emulated is False
                 else "emulated: unknown (fftk is not installed)")
    return "\n".join(lines + [f"missing: {m}" for m in report["missing"]])


def fftk_argv(args: list[str], cfg: dict) -> list[str]:
    """`python -m fftoolkit.cli ...`, pinned with taskset when the board says so."""
    argv = [sys.executable, "-m", "fftoolkit.cli", *args]
    if cfg.get("taskset") and shutil.which("taskset"):
        argv = ["taskset", "-c", cfg["taskset"], *argv]
    return argv


def call(argv: list[str], stdout: int | None = None) -> subprocess.CompletedProcess:
    print("+ " + shlex.join(argv), file=sys.stderr, flush=True)
    return subprocess.run(argv, cwd=HERE, stdout=stdout, text=True)


def bench(ns: argparse.Namespace, cfg: dict, log_dir: Path) -> int:
    formats = ns.formats.split(",") if ns.formats else pick_formats(cfg)
    warmup = ns.warmup if ns.warmup is not None else cfg["warmup"]
    args = ["bench", str(HERE / cfg["bundle"]), *([ns.input] if ns.input else []),
            "--formats", ",".join(formats),
            "--log-dir", str(log_dir), "--threads", str(ns.threads or cfg["threads"]),
            "--runs", str(ns.runs or cfg["runs"]), "--warmup", str(warmup), "--no-plot"]
    return call(fftk_argv(args + ns.opts, cfg)).returncode


def run(ns: argparse.Namespace, cfg: dict, log_dir: Path) -> int:
    """`fftk run --json` with the board's first format; the predictions go to log_dir."""
    from fftoolkit.runtime.demo_set import demo_set_path
    from fftoolkit.runtime.formats import get_format

    fmt = get_format(pick_formats(cfg)[0])  # the board's first choice
    args = ["run", str(HERE / cfg["bundle"]), ns.input or str(demo_set_path()),
            "--backend", fmt.backend, "--precision", fmt.precision,
            "--threads", str(ns.threads or cfg["threads"]), "--json"]
    done = call(fftk_argv(args + ns.opts, cfg), stdout=subprocess.PIPE)
    if done.returncode != 0:
        return done.returncode
    result = json.loads(done.stdout)
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"run-{result['format']}.json").write_text(json.dumps(result, indent=2))
    error = "" if result["error"] is None else f", error {result['error']:.2f}%"
    print(f"{result['n']} image(s), {result['format']} on {result['runtime']}{error}; "
          f"predictions in {log_dir}/run-{result['format']}.json")
    return 0


def verify(ns: argparse.Namespace, cfg: dict, log_dir: Path) -> int:
    """`fftk run --json --scores` for each format this board runs (Edge TPU checked, as for
    bench), one verify-<format>.json each in log_dir: `fftk deploy --verify` classifies the same
    images on the host and compares the two."""
    from fftoolkit.runtime.demo_set import demo_set_path
    from fftoolkit.runtime.formats import get_format

    formats = pick_formats({**cfg, "formats": ns.formats.split(",")} if ns.formats else cfg)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in formats:
        fmt = get_format(name)
        args = ["run", str(HERE / cfg["bundle"]), ns.input or str(demo_set_path()),
                "--backend", fmt.backend, "--precision", fmt.precision,
                "--threads", str(ns.threads or cfg["threads"]), "--json", "--scores"]
        done = call(fftk_argv(args, cfg), stdout=subprocess.PIPE)
        if done.returncode != 0:
            return done.returncode
        result = json.loads(done.stdout)
        (log_dir / f"verify-{result['format']}.json").write_text(json.dumps(result))
        print(f"{result['n']} image(s), {result['format']} on {result['runtime']}")
    return 0


def units(cfg: dict) -> int:
    """The systemd service + timer for this folder, this user and this venv's Python."""
    from fftoolkit.firmware.systemd import write_units

    for path in write_units(HERE, cfg["model"], HERE / ".venv" / "bin" / "python"):
        print(f"fftk: wrote {path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="report the runtime; exit 3 if a package is missing")
    c.add_argument("--json", action="store_true", help="one JSON line (for fftk deploy)")
    b = sub.add_parser("bench", help="fftk bench with this board's defaults")
    b.add_argument("--runs", type=int)
    b.add_argument("--warmup", type=int)
    b.add_argument("--formats", help="comma-separated; default: deploy.json's, Edge TPU checked")
    r = sub.add_parser("run", help="fftk run --json; the predictions go to the log folder")
    v = sub.add_parser("verify", help="fftk run --json --scores per format, for fftk deploy "
                                      "--verify (no OPTS: the host runs the same settings)")
    v.add_argument("--formats", help="comma-separated; default: deploy.json's, Edge TPU checked")
    sub.add_parser("units", help="write systemd/ units for this folder and user")
    for p in (b, r, v):
        p.add_argument("--input", help="images on this board: a file, folder or .npz "
                                       "(default: the packaged demo set)")
        p.add_argument("--threads", type=int)
        p.add_argument("--log-dir", type=Path, help="default: logs/<UTC time>")
    for p in (b, r):
        p.add_argument("opts", nargs="*", help="after --: options for fftk bench / fftk run")
    ns = parser.parse_args()
    try:
        cfg = load_config()
        if ns.command == "units":
            return units(cfg)
    except Exception as exc:  # FFTKError when fftk is installed: its message is the one line
        print(f"fftk_board.py: {exc}", file=sys.stderr)
        return 2
    if ns.command == "check":
        report = check(cfg)
        print(json.dumps(report) if ns.json else describe(report))
        return 3 if report["missing"] else 0
    log_dir = ns.log_dir or HERE / "logs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {"bench": bench, "run": run, "verify": verify}[ns.command](ns, cfg, log_dir)


if __name__ == "__main__":
    sys.exit(main())

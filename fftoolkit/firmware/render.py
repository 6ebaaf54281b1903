"""`fftk firmware`: turn a bundle + a board's templates into a self-contained deploy directory.

The directory holds everything the board needs and nothing it does not (no torch):

    bundle/            the verified bundle (manifest + model files)
    wheels/            fftoolkit, packed from this install (see wheel.py)
    requirements.txt   device pins with aarch64 wheels
    install.sh         venv + pip, idempotent, refuses 32-bit systems
    fftk_board.py      board-side entry point: check / bench / run
    fftk-bench.*.in    systemd service + timer (install.sh fills in the folder's path)
    README.md          the board's notes: threads, cooling, throttling, taskset
    deploy.json        what was rendered: model, board, formats, defaults
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import fftoolkit
from fftoolkit.atomic import atomic_dir
from fftoolkit.errors import FFTKError
from fftoolkit.firmware.templates import Board, board_files, load_board, render_text
from fftoolkit.firmware.wheel import build_wheel
from fftoolkit.runtime.manifest import Manifest, load_manifest, verify_file

DEPLOY_FILE = "deploy.json"
EDGETPU = "edgetpu-int8"
BENCH_EVERY = "1h"


@dataclass
class DeployConfig:
    """deploy.json: read by fftk_board.py on the board and by `fftk deploy` here."""

    model: str
    board: str
    board_title: str
    formats: list[str]
    threads: int
    taskset: str
    runs: int
    warmup: int
    bundle: str = "bundle"
    wheel: str = ""
    fftk_version: str = fftoolkit.__version__
    created: str = ""
    notes: list[str] = field(default_factory=list)


def requirements(text: str) -> list[str]:
    """The pinned lines of a requirements file (comments and blanks dropped)."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def choose_formats(manifest: Manifest, board: Board, bundle: Path) -> tuple[list[str], list[str]]:
    """The board's formats the bundle has, and a note for each one it lacks."""
    have = manifest.artifacts
    formats = [f for f in board.formats if f in have]
    notes = []
    if EDGETPU in board.formats and EDGETPU not in have:
        notes.append(f"{bundle}: no Edge TPU model ({EDGETPU}), so the {board.name} runs the "
                     "CPU int8 model (tflite-int8); for the TPU, install edgetpu_compiler on an "
                     "x86-64 Linux machine (apt package edgetpu-compiler) and export again")
    if not formats:
        raise FFTKError(f"{bundle}: the bundle has none of the formats a {board.name} runs "
                        f"({', '.join(board.formats)}); it has {', '.join(have) or 'none'}. "
                        "Export with: fftk export CHECKPOINT --target all --quantize int8")
    return formats, notes


def verify_bundle(bundle: Path, manifest: Manifest, formats: list[str]) -> None:
    """Every file the board will load matches its sha256: fail here, not on the board."""
    for key in formats:
        art = manifest.artifacts[key]
        for entry in [art.fused, *art.blocks, *([art.head] if art.head else [])]:
            verify_file(bundle, entry)


def render_firmware(bundle: str | Path, board_name: str, out: str | Path,
                    force: bool = False) -> DeployConfig:
    """Write the deploy directory for `board_name` to `out` (atomically) and return its config."""
    bundle, out = Path(bundle), Path(out)
    board = load_board(board_name)
    manifest = load_manifest(bundle)
    formats, notes = choose_formats(manifest, board, bundle)
    verify_bundle(bundle, manifest, formats)
    if out.exists() and not force:
        raise FFTKError(f"{out}: already exists (pass --force to replace it)")
    if out.resolve() == bundle.resolve() or bundle.resolve() in out.resolve().parents:
        raise FFTKError(f"{out}: cannot render a deploy directory inside the bundle {bundle}")

    cfg = DeployConfig(model=manifest.model_name, board=board.name, board_title=board.title,
                       formats=formats, threads=board.threads, taskset=board.taskset,
                       runs=board.runs, warmup=board.warmup, notes=notes,
                       created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    values = {
        "MODEL": cfg.model, "BOARD": cfg.board, "BOARD_TITLE": cfg.board_title,
        "FORMATS": ",".join(formats), "THREADS": str(cfg.threads),
        "TASKSET": cfg.taskset or "none", "RUNS": str(cfg.runs), "WARMUP": str(cfg.warmup),
        "FFTK_VERSION": cfg.fftk_version, "BENCH_EVERY": BENCH_EVERY,
    }
    templates = board_files(board.name)
    with atomic_dir(out, force=force) as tmp:
        shutil.copytree(bundle, tmp / cfg.bundle)
        for rel, src in templates.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(render_text(src.read_text(), values, src))
            shutil.copymode(src, dest)
        pins = requirements((tmp / "requirements.txt").read_text())
        cfg.wheel = build_wheel(tmp / "wheels", pins).relative_to(tmp).as_posix()
        (tmp / DEPLOY_FILE).write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    return cfg


def load_deploy_config(deploy_dir: str | Path) -> DeployConfig:
    """Read deploy.json from a rendered directory; anything else is a one-line error."""
    path = Path(deploy_dir) / DEPLOY_FILE
    if not path.is_file():
        raise FFTKError(f"{path}: not found; is {deploy_dir} a directory made by `fftk firmware`?")
    try:
        return DeployConfig(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise FFTKError(f"{path}: malformed deploy file ({exc})") from None

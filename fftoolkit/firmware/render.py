"""`fftk firmware`: turn a bundle + a board's templates into a self-contained deploy directory.

The directory holds everything the board needs and nothing it does not (no torch):

    bundle/            the verified bundle (manifest + model files; c/ only for a board that
                       runs c-int8)
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
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import fftoolkit
from fftoolkit.atomic import atomic_dir, refuse_overlap
from fftoolkit.errors import FFTKError
from fftoolkit.firmware.templates import Board, board_files, load_board, render_text
from fftoolkit.firmware.wheel import build_wheel
from fftoolkit.runtime.formats import FORMATS
from fftoolkit.runtime.manifest import (
    MANIFEST_NAME,
    Manifest,
    listed_files,
    load_manifest,
    manifest_sha256,
    read_listed,
)
from fftoolkit.runtime.schema import bad_field, from_json
from fftoolkit.untrusted import check_name, read_verified

DEPLOY_FILE = "deploy.json"
EDGETPU = "edgetpu-int8"
BENCH_EVERY = "1h"
FROM_BUNDLE = {"MODEL"}  # placeholders whose value comes from the (untrusted) bundle
WHEEL_PATH = re.compile(r"wheels/fftoolkit-[0-9A-Za-z.+]+-py3-none-any\.whl")
TASKSET = re.compile(r"([0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*)?")


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


def read_bundle(bundle: Path, manifest: Manifest, manifest_sha256: str,
                formats: list[str]) -> dict[str, bytes]:
    """The files of the bundle a board gets, as checked bytes: the manifest (by its sha256)
    and each file it lists (by the sha256 it lists), except the C engine's sources unless the
    board runs `c-int8` (a Linux board runs the TFLite/ONNX models). Fail here, not on the
    board; copy only these bytes, so nothing unlisted, unverified or behind a symlink reaches
    the deploy directory."""
    files = {MANIFEST_NAME: read_verified(bundle, MANIFEST_NAME, manifest_sha256,
                                          bundle / MANIFEST_NAME)}
    unused = [k for k, art in manifest.artifacts.items() if art.format == "c" and k not in formats]
    for name, sha in listed_files(manifest, without=unused).items():
        files[name] = read_listed(bundle, name, sha)
    return files


def render_firmware(bundle: str | Path, board_name: str, out: str | Path,
                    force: bool = False, expect_sha256: str | None = None) -> DeployConfig:
    """Write the deploy directory for `board_name` to `out` (atomically) and return its config.

    `expect_sha256` pins the bundle's manifest (and through it every file)."""
    bundle, out = Path(bundle), Path(out)
    refuse_overlap(out, {"bundle": bundle})
    board = load_board(board_name)
    if board.kind != "linux":
        raise FFTKError(f"{board.name} is a microcontroller board: render it with "
                        "fftoolkit.firmware.mcu.render_mcu")
    manifest = load_manifest(bundle, expect_sha256)
    formats, notes = choose_formats(manifest, board, bundle)
    files = read_bundle(bundle, manifest, expect_sha256 or manifest_sha256(bundle), formats)
    if out.exists() and not force:
        raise FFTKError(f"{out}: already exists (pass --force to replace it)")

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
    templates = board_files(board)
    with atomic_dir(out, force=force) as tmp:
        (tmp / cfg.bundle).mkdir()
        for name, data in files.items():  # names checked: plain, or c/<plain>
            (tmp / cfg.bundle / name).parent.mkdir(exist_ok=True)
            (tmp / cfg.bundle / name).write_bytes(data)
        for rel, src in templates.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(render_text(src.read_text(), _values_for(src, values), src))
            shutil.copymode(src, dest)
        pins = requirements((tmp / "requirements.txt").read_text())
        cfg.wheel = build_wheel(tmp / "wheels", pins).relative_to(tmp).as_posix()
        (tmp / DEPLOY_FILE).write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    return cfg


def _values_for(template: Path, values: dict[str, str]) -> dict[str, str]:
    """The placeholders a template may use: text from the bundle (the model name) only in
    Markdown; scripts and unit files get it as data on the board (deploy.json), never as text."""
    if template.suffix == ".md":
        return values
    return {k: v for k, v in values.items() if k not in FROM_BUNDLE}


def load_deploy_config(deploy_dir: str | Path) -> DeployConfig:
    """Read and check deploy.json (a deploy folder may come from someone else): one line
    naming the first bad field."""
    path = Path(deploy_dir) / DEPLOY_FILE
    if not path.is_file() or path.is_symlink():
        raise FFTKError(f"{path}: not found; is {deploy_dir} a directory made by `fftk firmware`?")
    try:
        raw = json.loads(path.read_text(), parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise FFTKError(f"{path}: malformed deploy file ({exc})") from None
    cfg: DeployConfig = from_json(DeployConfig, raw, path)
    check_name(cfg.model, "model", path)
    check_name(cfg.board, "board", path)
    if cfg.bundle != "bundle":
        raise bad_field(path, "bundle", "'bundle'", cfg.bundle)
    if not WHEEL_PATH.fullmatch(cfg.wheel):
        raise bad_field(path, "wheel", "wheels/fftoolkit-<version>-py3-none-any.whl", cfg.wheel)
    unknown = [f for f in cfg.formats if f not in FORMATS or f == "torch-fp32"]
    if not cfg.formats or unknown:
        raise bad_field(path, "formats", "board formats from " + ", ".join(FORMATS), cfg.formats)
    if not TASKSET.fullmatch(cfg.taskset):
        raise bad_field(path, "taskset", "a CPU list like 0-3 or 2,3 (or empty)", cfg.taskset)
    for key, low in (("threads", 1), ("runs", 1), ("warmup", 0)):
        if not low <= getattr(cfg, key) <= 100_000:
            raise bad_field(path, key, f"an integer from {low} to 100000", getattr(cfg, key))
    if not all(text.isprintable() for text in [cfg.board_title, *cfg.notes]):
        raise bad_field(path, "board_title/notes", "printable text", cfg.board_title)
    return cfg


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")

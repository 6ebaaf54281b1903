"""Find the board templates and fill their `{{NAME}}` placeholders.

Templates are plain files (shell, systemd, Markdown); a placeholder is `{{NAME}}` so it never
collides with shell `${VAR}` syntax. A placeholder without a value is an error, not a blank.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import fftoolkit
from fftoolkit.errors import FFTKError

PLACEHOLDER = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")
COMMON = "common"
BOARD_FILE = "board.json"
KINDS = ("linux", "mcu")
PARTS_FILE = "parts.json"


def templates_dir() -> Path:
    """The wheel's packaged copy first, else the repository's `firmware_templates/`."""
    package = Path(fftoolkit.__file__).resolve().parent
    packaged = package / "firmware_templates"
    return packaged if packaged.is_dir() else package.parent / "firmware_templates"


def list_boards() -> list[str]:
    """Every folder with a `board.json` is a board (add a board = add a folder)."""
    root = templates_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{BOARD_FILE}"))


@dataclass
class Board:
    """A board's defaults, read from `firmware_templates/<name>/board.json`.

    `kind` says what `fftk firmware` makes for it: "linux" a deploy directory (bundle, wheel,
    install.sh) that `fftk deploy` ships over SSH; "mcu" firmware sources (the C engine, startup
    code, linker script, Makefile) built with a cross compiler, whose memory regions are
    `flash_bytes` and `ram_bytes`."""

    name: str
    kind: str
    title: str
    threads: int = 1
    formats: list[str] = field(default_factory=list)  # linux: artifacts to benchmark, in order
    taskset: str = ""  # CPU list for `taskset -c`; "" = no pinning
    runs: int = 200
    warmup: int = 20
    edgetpu: bool = False
    flash_bytes: int = 0  # mcu: the board's code/const region
    ram_bytes: int = 0  # mcu: its RAM region
    images: int = 0  # mcu: test images the firmware classifies by default


def load_board(name: str) -> Board:
    path = templates_dir() / name / BOARD_FILE
    if not path.is_file():
        known = ", ".join(list_boards()) or "none"
        raise FFTKError(f"unknown board '{name}' (no {path}); known boards: {known}")
    try:
        board = Board(name=name, **json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise FFTKError(f"{path}: malformed board file ({exc})") from None
    if board.kind not in KINDS:
        raise FFTKError(f"{path}: kind {board.kind!r} is not one of {', '.join(KINDS)}")
    if board.kind == "linux" and not board.formats:
        raise FFTKError(f"{path}: a linux board lists the formats it runs")
    if board.kind == "mcu" and not min(board.flash_bytes, board.ram_bytes, board.images) > 0:
        raise FFTKError(f"{path}: an mcu board gives its flash_bytes, ram_bytes and images")
    return board


def boards_by_kind() -> dict[str, list[str]]:
    """Board names grouped by kind, for help texts and errors."""
    grouped: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for name in list_boards():
        grouped[load_board(name).kind].append(name)
    return grouped


@dataclass(frozen=True)
class Part:
    """A real microcontroller a firmware image must fit (`firmware_templates/parts.json`)."""

    name: str
    title: str
    flash_bytes: int
    ram_bytes: int


def load_parts() -> dict[str, Part]:
    """The parts table: one JSON file of data, checked here (positive byte counts)."""
    path = templates_dir() / PARTS_FILE
    try:
        raw = json.loads(path.read_text())["parts"]
        parts = {name: Part(name=name, **entry) for name, entry in raw.items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise FFTKError(f"{path}: malformed parts table ({exc})") from None
    for part in parts.values():
        if not (isinstance(part.flash_bytes, int) and isinstance(part.ram_bytes, int)
                and part.flash_bytes > 0 and part.ram_bytes > 0):
            raise FFTKError(f"{path}: part {part.name} needs positive flash_bytes and ram_bytes")
    return parts


def board_files(board: Board) -> dict[str, Path]:
    """Relative path -> template file: for a linux board `common/` first, the board's own
    files override it; an mcu board has only its own."""
    files: dict[str, Path] = {}
    folders = [templates_dir() / board.name]
    if board.kind == "linux":
        folders.insert(0, templates_dir() / COMMON)
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            hidden = any(part.startswith(".") or part == "__pycache__"
                         for part in path.relative_to(folder).parts)
            if path.is_file() and rel != BOARD_FILE and not hidden:
                files[rel] = path
    return files


def render_text(text: str, values: dict[str, str], source: str | Path) -> str:
    """Replace every `{{NAME}}`; an unknown NAME is an `FFTKError` naming the template."""
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise FFTKError(f"{source}: no value for placeholder(s) {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

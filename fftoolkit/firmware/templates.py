"""Find the board templates and fill their `{{NAME}}` placeholders.

Templates are plain files (shell, systemd, Markdown); a placeholder is `{{NAME}}` so it never
collides with shell `${VAR}` syntax. A placeholder without a value is an error, not a blank.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import fftoolkit
from fftoolkit.errors import FFTKError

PLACEHOLDER = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")
COMMON = "common"
BOARD_FILE = "board.json"


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
    """A board's defaults, read from `firmware_templates/<name>/board.json`."""

    name: str
    title: str
    threads: int
    formats: list[str]  # bundle artifacts to benchmark, in order; absent ones are dropped
    taskset: str = ""  # CPU list for `taskset -c`; "" = no pinning
    runs: int = 200
    warmup: int = 20
    edgetpu: bool = False


def load_board(name: str) -> Board:
    path = templates_dir() / name / BOARD_FILE
    if not path.is_file():
        known = ", ".join(list_boards()) or "none"
        raise FFTKError(f"unknown board '{name}' (no {path}); known boards: {known}")
    try:
        return Board(name=name, **json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise FFTKError(f"{path}: malformed board file ({exc})") from None


def board_files(name: str) -> dict[str, Path]:
    """Relative path -> template file: `common/` first, the board's own files override it."""
    files: dict[str, Path] = {}
    for folder in (templates_dir() / COMMON, templates_dir() / name):
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

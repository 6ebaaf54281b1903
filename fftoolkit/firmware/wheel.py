"""Pack the fftoolkit that is running into a pure-Python wheel for the board.

Why not `pip wheel .`: that needs the repository and hatchling (a download), while this works
offline from a checkout or from an installed fftk, in well under a second. The layout matches
the project's hatchling wheel (pyproject.toml: `models/` -> `fftoolkit/zoo`, `firmware_templates/`
-> `fftoolkit/firmware_templates`). Timestamps are fixed, so the same source gives the same
bytes and the board's `install.sh` can skip reinstalling it.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import fftoolkit
from fftoolkit.atomic import atomic_path

NAME = "fftoolkit"
EPOCH = (1980, 1, 1, 0, 0, 0)
SKIP_SUFFIXES = (".pyc", ".pyo", ".tmp")


def _package_files() -> dict[str, Path]:
    """Archive name -> file for the package plus its data folders (packaged or repo copies)."""
    package = Path(fftoolkit.__file__).resolve().parent
    roots = {NAME: package}
    for packaged, repo in (("zoo", "models"), ("firmware_templates", "firmware_templates")):
        if not (package / packaged).is_dir() and (package.parent / repo).is_dir():
            roots[f"{NAME}/{packaged}"] = package.parent / repo
    files: dict[str, Path] = {}
    for prefix, root in roots.items():
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            hidden = any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
            if path.is_file() and not hidden and not path.name.endswith(SKIP_SUFFIXES):
                files[f"{prefix}/{rel.as_posix()}"] = path
    return files


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _metadata(requires: list[str]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {NAME}", f"Version: {fftoolkit.__version__}",
             "Summary: fftk device runtime (Forward-Forward bundles on edge boards)",
             "Requires-Python: >=3.10"]
    return "\n".join(lines + [f"Requires-Dist: {r}" for r in requires]) + "\n"


def build_wheel(out_dir: str | Path, requires: list[str]) -> Path:
    """Write `fftoolkit-<version>-py3-none-any.whl` into `out_dir`; `requires` = pinned deps."""
    dist_info = f"{NAME}-{fftoolkit.__version__}.dist-info"
    entries: list[tuple[str, bytes]] = [(n, p.read_bytes()) for n, p in _package_files().items()]
    entries += [
        (f"{dist_info}/METADATA", _metadata(requires).encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: fftk-firmware\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{dist_info}/entry_points.txt", b"[console_scripts]\nfftk = fftoolkit.cli:main\n"),
    ]
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    target = Path(out_dir) / f"{NAME}-{fftoolkit.__version__}-py3-none-any.whl"
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return target

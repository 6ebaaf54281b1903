"""The rules for text and files that come from outside: bundles, checkpoints, deploy folders.

Everything fftk reads from a file someone else may have written is untrusted. One place says
what such data may look like, so every entry point (train, export, run, bench, firmware,
deploy, the board) enforces the same rules:

- a name that becomes a file or folder name, or enters a generated file, matches
  `NAME_PATTERN` (letters, digits, `.`, `_`, `-`; no leading dot or dash);
- a file a manifest lists is a plain name inside its folder (or, where the caller names the one
  sub-folder it allows, `<folder>/<plain name>`: exactly one level), a regular file (never a
  symlink), and its bytes are hashed before anything parses them;
- a folder that is copied or shipped holds no symlink anywhere.

Standard library only: the device side (no torch) and the board import it.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from fftoolkit.errors import FFTKError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
NAME_RULE = "1-100 of A-Z a-z 0-9 . _ -, not starting with . or -"
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
MAX_FILE_BYTES_ENV = "FFTK_MAX_BUNDLE_FILE_BYTES"
MAX_FILE_BYTES = 2 << 30  # one file of a bundle, read whole to check its sha256


def check_name(value: object, what: str, source: str | Path) -> str:
    """`value` if it is a safe name, else an `FFTKError` naming `source` and what it was."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise FFTKError(f"{source}: {what} {_show(value)} is not a safe name ({NAME_RULE})")
    return value


def check_sha256(value: object, what: str, source: str | Path) -> str:
    """A lower-case hex sha256 digest, else an `FFTKError`."""
    if not isinstance(value, str) or not SHA256_PATTERN.fullmatch(value):
        raise FFTKError(f"{source}: {what} {_show(value)} is not a sha256 (64 lower-case hex "
                        "digits)")
    return value


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """The sha256 of a regular file (streamed), never following a symlink at its name."""
    h = hashlib.sha256()
    with _open_regular(Path(path)) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def inside(root: str | Path, name: str, what: str, source: str | Path) -> Path:
    """`root/name` for a safe plain `name` that resolves inside `root` (a path, not yet read)."""
    check_name(name, what, source)
    root = Path(root)
    path = root / name
    if path.resolve().parent != root.resolve():
        raise FFTKError(f"{source}: {what} {name!r} resolves outside {root}")
    return path


def in_folder(root: str | Path, folder: str, name: str, what: str, source: str | Path) -> Path:
    """`root/folder/n` for a `name` of the form `<folder>/<n>`: exactly the one named folder
    (a real folder, not a symlink) and a safe plain `n` that resolves inside it."""
    check_name(folder, "folder", source)
    prefix = f"{folder}/"
    if not isinstance(name, str) or not name.startswith(prefix):
        raise FFTKError(f"{source}: {what} {_show(name)} is not {prefix}<name>")
    sub = Path(root) / folder
    if sub.is_symlink():
        raise FFTKError(f"{sub}: is a symlink; fftk reads only regular folders in a bundle")
    return inside(sub, name[len(prefix):], what, source)


def read_verified(root: str | Path, name: str, sha256: str, source: str | Path,
                  folder: str | None = None) -> bytes:
    """The bytes of `root/name`, a regular file inside `root` whose sha256 matches; with
    `folder`, `name` is `<folder>/<plain name>` (see `in_folder`).

    The file is read once and the same bytes are hashed and returned, so what was checked is
    what gets parsed (no window for a swap between the check and the use).
    """
    path = (inside(root, name, "file", source) if folder is None
            else in_folder(root, folder, name, "file", source))
    check_sha256(sha256, f"sha256 of {name}", source)
    if not os.path.lexists(path):
        raise FFTKError(f"{path}: listed in the manifest but missing from the bundle")
    limit = _max_file_bytes()
    if os.lstat(path).st_size > limit:
        raise FFTKError(f"{path}: {os.lstat(path).st_size:,} bytes is over the limit of "
                        f"{limit:,} for one bundle file; set ${MAX_FILE_BYTES_ENV} to allow more")
    data = _read_regular(path)
    if sha256_bytes(data) != sha256:
        raise FFTKError(f"{path}: sha256 does not match the manifest (file changed or damaged)")
    return data


def find_symlinks(root: str | Path) -> list[Path]:
    """Every symlink under `root` (not followed), in a stable order."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            if path.is_symlink():
                found.append(path)
    return sorted(found)


def refuse_symlinks(root: str | Path, what: str) -> None:
    """An `FFTKError` naming the first symlink found in `root` (a bundle or deploy folder)."""
    root = Path(root)
    if root.is_symlink():
        raise FFTKError(f"{root}: the {what} is a symlink; pass the real folder")
    links = find_symlinks(root)
    if links:
        raise FFTKError(f"{links[0]}: the {what} contains a symlink (to {os.readlink(links[0])!r});"
                        f" fftk never follows links in a {what}: replace it with the file")


def _read_regular(path: Path) -> bytes:
    with _open_regular(path) as f:
        return f.read()


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; a symlink, FIFO or device is refused before opening."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        raise FFTKError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISLNK(mode):
        raise FFTKError(f"{path}: is a symlink; fftk reads only regular files in a bundle")
    if not stat.S_ISREG(mode):
        raise FFTKError(f"{path}: not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FFTKError(f"{path}: cannot read ({exc.strerror})") from None
    return os.fdopen(fd, "rb")


def _max_file_bytes() -> int:
    raw = os.environ.get(MAX_FILE_BYTES_ENV, "").strip()
    if not raw:
        return MAX_FILE_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise FFTKError(f"${MAX_FILE_BYTES_ENV}: expected a positive whole number, got {raw!r}")
    return int(raw)


def _show(value: object) -> str:
    """A value for an error message: repr, cut short, so a hostile value stays one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

"""Read a user's source (a folder or a .tar.gz) as a flat map of relative path -> file.

Archives are read member by member in memory, never extracted: every member is checked first,
so an archive with absolute paths, `..`, links or devices is refused before any byte is used, and
one whose members add up to more than MAX_ARCHIVE_BYTES / MAX_ARCHIVE_MEMBERS before it is read.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm
from tqdm.utils import CallbackIOWrapper

from fftoolkit.errors import FFTKError
from fftoolkit.limits import GiB, Limit

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
# Limits (see fftoolkit/limits.py), checked from each member's header before its data is read.
MAX_ARCHIVE_BYTES = Limit(2 * GiB, "FFTK_MAX_DATASET_BYTES")  # sum of the members' sizes
MAX_ARCHIVE_MEMBERS = Limit(2_000_000, "FFTK_MAX_ARCHIVE_MEMBERS")  # entries, folders included


@dataclass(frozen=True)
class Member:
    """One file of a source: on disk (`path`) or read from an archive (`data`)."""

    label: str  # how error messages name it: "/abs/file" or "/abs/a.tar.gz:train/cat/1.jpg"
    path: Path | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise FFTKError(f"{self.label}: cannot read ({exc.strerror or exc})") from None


@dataclass
class Tree:
    """A source's regular files (posix relative path -> member) and its folders (relative paths)."""

    files: dict[str, Member]
    dirs: set[str]

    def prefixes(self) -> list[str]:
        """Where a dataset may start: the root, then each top-level folder ("name/"), since
        archives often wrap their content in one folder."""
        return ["", *sorted(rel + "/" for rel in self.dirs if "/" not in rel)]


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def fingerprint(path: Path) -> str:
    """Key a source by absolute path + size + mtime of every file, so edits invalidate caches."""
    path = path.resolve()
    digest = hashlib.sha256(str(path).encode())
    if path.is_dir():
        files, dirs = _walk(path)
        for rel, st in sorted(files):
            digest.update(f"\0{rel}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        for rel in sorted(dirs):
            digest.update(f"\0{rel}/".encode())
    else:
        st = path.stat()
        digest.update(f"\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def read_source(path: Path) -> Tree:
    """All regular files and folders of a folder or a .tar.gz, by posix relative path."""
    path = path.resolve()
    if path.is_dir():
        files, dirs = _walk(path)
        return Tree({rel: Member(str(path / rel), path=path / rel) for rel, _ in files}, dirs)
    if is_archive(path):
        return _read_archive(path)
    raise FFTKError(f"{path}: not a dataset folder or .tar.gz archive")


def _walk(root: Path) -> tuple[list[tuple[str, os.stat_result]], set[str]]:
    """(relative path, stat) of each regular file under `root`, and each folder; none hidden."""
    found: list[tuple[str, os.stat_result]] = []
    dirs: set[str] = set()
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = f"{prefix}{entry.name}"
                if entry.is_dir():
                    dirs.add(rel)
                    stack.append((Path(entry.path), rel + "/"))
                elif entry.is_file():
                    found.append((rel, entry.stat()))
    return found, dirs


def _read_archive(path: Path) -> Tree:
    files: dict[str, Member] = {}
    dirs: set[str] = set()
    bar = tqdm(total=path.stat().st_size, desc=f"reading {path.name}", unit="B",
               unit_scale=True, file=sys.stderr, leave=False)
    try:
        with path.open("rb") as raw, tarfile.open(
            fileobj=CallbackIOWrapper(bar.update, raw, "read")
        ) as tar:
            budget = _ArchiveBudget(path)
            for info in tar:
                budget.take(info)
                rel = _safe_member_name(path, info)
                parts = PurePosixPath(rel).parts
                if not parts or any(part.startswith(".") for part in parts):
                    continue
                dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))  # implied folders
                if info.isdir():
                    dirs.add(rel)
                    continue
                handle = tar.extractfile(info)
                assert handle is not None  # regular files always have a handle
                files[rel] = Member(f"{path}:{rel}", data=handle.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FFTKError(f"{path}: damaged or truncated archive ({exc})") from None
    finally:
        bar.close()
    return Tree(files, dirs)


class _ArchiveBudget:
    """Counts an archive's entries and bytes as their headers arrive; refuses past the limits."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.max_members, self.max_bytes = MAX_ARCHIVE_MEMBERS.get(), MAX_ARCHIVE_BYTES.get()
        self.members = self.bytes = 0

    def take(self, info: tarfile.TarInfo) -> None:
        self.members += 1
        self.bytes += max(info.size, 0)
        if self.members > self.max_members:
            raise FFTKError(f"{self.archive}: more than {self.max_members:,} archive entries "
                            f"({MAX_ARCHIVE_MEMBERS.hint()})")
        if self.bytes > self.max_bytes:
            raise FFTKError(f"{self.archive}: members add up to more than {self.max_bytes:,} "
                            f"bytes at {info.name!r} ({MAX_ARCHIVE_BYTES.hint()})")


def _safe_member_name(archive: Path, info: tarfile.TarInfo) -> str:
    """The member's normalised relative name; refuse anything that could escape or isn't a file."""
    name = info.name
    kind = _unsafe_kind(info)
    if kind:
        raise FFTKError(f"{archive}: refusing unsafe archive member {name!r} ({kind})")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and ":" in parts[0]):
        raise FFTKError(f"{archive}: refusing unsafe archive member {name!r} (absolute path)")
    if ".." in parts:
        raise FFTKError(f"{archive}: refusing unsafe archive member {name!r} ('..' in path)")
    return "/".join(p for p in parts if p != ".")


def _unsafe_kind(info: tarfile.TarInfo) -> str | None:
    if info.issym():
        return "symbolic link"
    if info.islnk():
        return "hard link"
    if info.ischr() or info.isblk():
        return "device file"
    if info.isfifo():
        return "FIFO"
    if not (info.isreg() or info.isdir()):
        return "not a regular file"
    return None

"""Write files and directories so an interruption never leaves a half-written output.

Temp entries sit next to their target and carry their owner in the name:
`.<name>.fftk-<host>-<pid>-<start>-<random>.tmp` (host: a hash of the hostname; start: when
the pid started, so a reused pid is not mistaken for the owner). Replacing a directory renames
the old one to `.<name>.fftk-<owner>-<random>.old` first. A process killed mid-way leaves those
behind; the next atomic write in the same folder removes its temps and restores (target
missing) or deletes (target present) its backups, but only where the owner process is gone:
never a live run's, never one from another host.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from fftoolkit.errors import FFTKError

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_LEFTOVER = re.compile(r"\.(?P<target>.+)\.fftk-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-"
                       r"(?P<start>\d+)-[a-z0-9_]+\.(?P<kind>tmp|old)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot, /proc); None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the name in (...) may contain spaces
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _owner() -> str:
    """This process's mark in temp names: host hash, pid and the pid's start time."""
    pid = os.getpid()
    return f"fftk-{_HOST}-{pid}-{_start_ticks(pid) or 0}-"


def _owner_gone(host: str, pid: int, start: int) -> bool:
    """True only when we can tell the owner is dead; another host's owner is never 'gone'."""
    if host != _HOST:
        return False
    if not Path("/proc/self/stat").exists():  # no /proc: pid existence is all we can check
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    now = _start_ticks(pid)
    return now is None or (start != 0 and now != start)


def _remove(path: Path) -> None:
    """Delete a file, link or directory tree; what is already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _discard(backup: Path, target_name: str) -> None:
    """Delete a backup by renaming it to a temp name first, so half-deleted is never a backup."""
    trash = backup.with_name(f".{target_name}.{_owner()}{secrets.token_hex(4)}.tmp")
    try:
        os.rename(backup, trash)
    except FileNotFoundError:
        return
    _remove(trash)


def clean_leftovers(folder: str | Path) -> None:
    """Settle what killed fftk processes left in `folder`: delete temps, restore or drop backups.

    Entries of live owners (a concurrent run) and of other hosts are left alone.
    """
    folder = Path(folder)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = _LEFTOVER.fullmatch(name)
        if not m or not _owner_gone(m["host"], int(m["pid"]), int(m["start"])):
            continue
        try:
            if m["kind"] == "tmp":
                _remove(folder / name)
            elif os.path.lexists(folder / m["target"]):  # the swap finished: old one not needed
                _discard(folder / name, m["target"])
            else:  # killed between its two renames: put the old content back
                os.rename(folder / name, folder / m["target"])
        except OSError:
            continue  # best effort: another process may be settling the same entry


def refuse_overlap(out: str | Path, inputs: Mapping[str, str | Path | None],
                   option: str = "--out", allow_parent: bool = False) -> None:
    """Refuse an output folder that is, contains or lies inside one of `inputs` (label: path).

    `--force` replaces the output folder, so one holding an input would delete it, and one
    inside an input writes into it. Symlinks are resolved on both sides. `allow_parent` lets
    `out` contain an input: for outputs that are only ever added to, never replaced.
    """
    where = _resolved(out)
    for label, path in inputs.items():
        if path is None or not os.path.lexists(Path(path).expanduser()):
            continue  # not a local file (e.g. a dataset name): nothing here to destroy
        src = _resolved(path)
        if where == src:
            problem = f"is the {label} {path} itself"
        elif src.is_relative_to(where) and not allow_parent:
            problem = f"contains the {label} {path}, which replacing it would delete"
        elif where.is_relative_to(src):
            problem = f"is inside the {label} {path}"
        else:
            continue
        raise FFTKError(f"{option} {out}: {problem}; choose an {option} outside the inputs")


def _resolved(path: str | Path) -> Path:
    path = Path(path).expanduser()
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare what we can
        return path.absolute()


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temp path next to `target`; rename it over `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{_owner()}", suffix=".tmp",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(target: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temp directory next to `target`; move it into place only if the block succeeds.

    Without `force` an existing non-empty target makes the final rename fail (OSError). With
    `force` the old target is swapped out by renames, so a kill at any moment leaves the old
    or the new content whole (or the old one as a backup that the next run restores).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{_owner()}", suffix=".tmp",
                                dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual mode
        if force and os.path.lexists(target):
            _swap(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


def _swap(new: Path, target: Path) -> None:
    """old -> backup, new -> target, then delete the backup: never a moment with neither."""
    backup = target.with_name(f".{target.name}.{_owner()}{secrets.token_hex(4)}.old")
    os.rename(target, backup)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(backup, target)
        raise
    _discard(backup, target.name)

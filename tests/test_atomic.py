"""fftoolkit.atomic with real processes: a kill at any moment leaves the old or the new output
whole, the next run cleans up what killed runs left (never a live run's), and an output folder
that overlaps an input is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fftoolkit import atomic
from fftoolkit.atomic import atomic_dir, atomic_path, clean_leftovers, refuse_overlap
from fftoolkit.errors import FFTKError

OLD = {f"old{i}.txt": "old" * 1000 for i in range(5)}
NEW = {f"new{i}.txt": "new" * 1000 for i in range(5)}

# Enter atomic_dir / atomic_path, say "ready", then wait for a line on stdin (or a kill).
HOLDER = """
import sys
from pathlib import Path
from fftoolkit.atomic import atomic_dir, atomic_path
target = Path(sys.argv[2])
with (atomic_dir(target) if sys.argv[1] == "dir" else atomic_path(target)) as tmp:
    if tmp.is_dir():
        (tmp / "data.txt").write_text("complete")
    else:
        tmp.write_text("complete")
    print("ready", flush=True)
    sys.stdin.readline()
"""

# Replace target with --force semantics and SIGKILL itself just before the N-th call of
# os.rename / os.unlink (0: never), i.e. between the steps of the swap and the cleanup.
SWAP = """
import os, signal, sys
from pathlib import Path
from fftoolkit.atomic import atomic_dir
target, kill_at = Path(sys.argv[1]), int(sys.argv[2])
calls = 0
def killing(real):
    def wrapper(*args, **kwargs):
        global calls
        calls += 1
        if calls == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return wrapper
with atomic_dir(target, force=True) as tmp:
    for i in range(5):
        (tmp / f"new{i}.txt").write_text("new" * 1000)
    os.rename, os.unlink = killing(os.rename), killing(os.unlink)
"""


def python(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"


def contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def leftovers(parent: Path, name: str) -> list[Path]:
    return sorted(parent.glob(f".{name}.*"))


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_a_killed_writers_temp_is_removed_by_the_next_run(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "out"
    proc = python(HOLDER, kind, target)
    wait_ready(proc)
    proc.kill()
    proc.wait(timeout=60)
    assert not target.exists() and len(leftovers(tmp_path, "out")) == 1  # what a kill leaves
    with atomic_path(tmp_path / "other.txt") as tmp:  # the next run in that folder
        tmp.write_text("x")
    assert leftovers(tmp_path, "out") == [] and not target.exists()


def test_a_live_writers_temp_is_left_alone(tmp_path: Path) -> None:
    proc = python(HOLDER, "dir", tmp_path / "a")
    try:
        wait_ready(proc)
        with atomic_dir(tmp_path / "b") as tmp:  # a concurrent run in the same folder
            (tmp / "data.txt").write_text("b")
        clean_leftovers(tmp_path)
        assert len(leftovers(tmp_path, "a")) == 1
        proc.communicate("go\n", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert (tmp_path / "a" / "data.txt").read_text() == "complete"
    assert leftovers(tmp_path, "a") == [] and leftovers(tmp_path, "b") == []


def test_a_reused_pid_or_another_host_is_judged_right(tmp_path: Path) -> None:
    me, start = os.getpid(), atomic._start_ticks(os.getpid())
    mine = tmp_path / f".x.fftk-{atomic._HOST}-{me}-{start}-abcdefgh.tmp"
    reused = tmp_path / f".y.fftk-{atomic._HOST}-{me}-{start + 1}-abcdefgh.tmp"
    host = "0" * 8 if atomic._HOST != "0" * 8 else "1" * 8
    other_host = tmp_path / f".z.fftk-{host}-1-1-abcdefgh.tmp"
    users = [tmp_path / ".x.tmp", tmp_path / ".x.abcdefgh.tmp", tmp_path / "x.fftk-1-2.tmp"]
    for path in [mine, reused, other_host, *users]:
        path.mkdir()
    clean_leftovers(tmp_path)
    assert mine.exists() and other_host.exists() and all(p.exists() for p in users)
    assert not reused.exists()  # our pid, but not the process that made it


@pytest.mark.parametrize("kill_at, at_kill, settled", [
    (1, OLD, OLD),  # before old -> backup
    (2, None, OLD),  # between old -> backup and new -> target: the backup is restored
    (3, NEW, NEW),  # before the backup is renamed away for deletion
    (4, NEW, NEW),  # in the middle of deleting the old content
    (0, NEW, NEW),  # not killed
])
def test_force_replacement_never_leaves_neither(tmp_path: Path, kill_at: int,
                                                at_kill: dict[str, str] | None,
                                                settled: dict[str, str]) -> None:
    target = tmp_path / "bundle"
    target.mkdir()
    for name, text in OLD.items():
        (target / name).write_text(text)
    proc = python(SWAP, target, kill_at)
    proc.communicate(timeout=60)
    assert proc.returncode == (-9 if kill_at else 0)
    backups = list(tmp_path.glob(".bundle.*.old"))
    if target.exists():  # at the moment of the kill: old or new, whole
        assert contents(target) == at_kill
    else:
        assert at_kill is None and len(backups) == 1 and contents(backups[0]) == OLD
    clean_leftovers(tmp_path)  # what the next run does first
    assert contents(target) == settled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_force_replaces_and_no_force_refuses(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(OSError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert contents(target) == {"old.txt": "old"} and leftovers(tmp_path, "out") == []
    with atomic_dir(target, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert contents(target) == {"new.txt": "new"} and leftovers(tmp_path, "out") == []
    assert target.stat().st_mode & 0o777 == 0o777 & ~atomic._umask()


def test_force_through_a_symlink_replaces_the_link_not_what_it_points_to(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("keep")
    (tmp_path / "link").symlink_to(real)
    with atomic_dir(tmp_path / "link", force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert contents(real) == {"keep.txt": "keep"}
    assert not (tmp_path / "link").is_symlink() and contents(tmp_path / "link") == {
        "new.txt": "new"}


def test_refuse_overlap(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "last.pt"
    ckpt.write_bytes(b"x")
    (tmp_path / "link").symlink_to(run)
    for out, words in [(run, "contains the checkpoint"), (tmp_path, "contains the checkpoint"),
                       (tmp_path / "link", "contains the checkpoint"),
                       (ckpt, "is the checkpoint"), (ckpt / "sub", "is inside the checkpoint")]:
        with pytest.raises(FFTKError, match=words) as info:
            refuse_overlap(out, {"checkpoint": ckpt})
        assert str(info.value).startswith(f"--out {out}: ") and "\n" not in str(info.value)
    refuse_overlap(run / "bundle", {"checkpoint": ckpt})  # beside the input: fine
    refuse_overlap(tmp_path, {"dataset": "cifar10", "none": None})  # names, not local paths
    refuse_overlap(tmp_path / "logs", {"bundle": run}, option="--log-dir", allow_parent=True)
    refuse_overlap(tmp_path, {"bundle": run}, option="--log-dir", allow_parent=True)
    with pytest.raises(FFTKError, match="^--log-dir .*: is inside the bundle"):
        refuse_overlap(run / "logs", {"bundle": run}, option="--log-dir", allow_parent=True)

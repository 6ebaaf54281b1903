"""`fftk firmware --force` never deletes or writes into the bundle it reads: an --out that is,
holds or lies inside the bundle is one line, exit 2, the bundle and its neighbours intact."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from fftk_cli import fftk, one_line_error


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (links not followed) and its sha256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture
def folder(tiny_bundle: Path, tmp_path: Path) -> Path:
    """DIR/bundle beside an unrelated file, and a link to DIR."""
    root = tmp_path / "dir"
    shutil.copytree(tiny_bundle, root / "bundle")
    (root / "notes.txt").write_text("not fftk's")
    (tmp_path / "link").symlink_to(root)
    return root


@pytest.mark.parametrize("out, force, problem", [
    ("dir", True, "contains the bundle"),
    ("link", True, "contains the bundle"),
    (".", True, "contains the bundle"),
    ("dir/bundle", True, "is the bundle"),
    ("dir/bundle/deploy", False, "is inside the bundle"),
    ("link/bundle/deploy", False, "is inside the bundle"),
])
def test_out_overlapping_the_bundle_is_refused(folder: Path, tmp_path: Path, out: str,
                                               force: bool, problem: str) -> None:
    before = snapshot(tmp_path)
    result = fftk("firmware", folder / "bundle", "--board", "rpi4", "--out", tmp_path / out,
                  *(["--force"] if force else []))
    line = one_line_error(result)
    assert line.startswith(f"error: --out {tmp_path / out}: ") and problem in line, line
    assert sum(ln.startswith("error") for ln in result.stderr.splitlines()) == 1
    assert snapshot(tmp_path) == before  # nothing deleted, nothing written

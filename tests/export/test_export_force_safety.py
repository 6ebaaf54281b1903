"""`fftk export --force` never deletes or writes into its own input: an --out that is, holds or
lies inside the checkpoint or the calibration data is one line, exit 2, everything intact."""

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
def run(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A run folder as `fftk train` leaves it: the checkpoint and its metrics."""
    folder = tmp_path / "top" / "run"
    folder.mkdir(parents=True)
    shutil.copy(tiny_bundle.parent / "last.pt", folder / "last.pt")
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (tmp_path / "link").symlink_to(folder)
    shutil.copytree(tiny_bundle.parent / "tree" / "val", tmp_path / "top" / "calib" / "train")
    return folder


@pytest.mark.parametrize("out, extra, problem", [
    ("top/run", ["--force"], "contains the checkpoint"),
    ("top", ["--force"], "contains the checkpoint"),
    ("link", ["--force"], "contains the checkpoint"),
    ("top/calib/bundle", [], "is inside the calibration dataset"),
    ("top/calib", ["--force"], "is the calibration dataset"),
])
def test_out_overlapping_an_input_is_refused(run: Path, tmp_path: Path, out: str,
                                             extra: list[str], problem: str) -> None:
    before = snapshot(tmp_path)
    result = fftk("export", run / "last.pt", "--out", tmp_path / out, "--quiet",
                  "--target", "onnx", "--quantize", "int8", "--calib-samples", "4",
                  "--eval-samples", "0", "--calib-dataset", tmp_path / "top" / "calib", *extra)
    line = one_line_error(result, problem)
    assert line.startswith(f"error: --out {tmp_path / out}: "), line
    assert snapshot(tmp_path) == before  # nothing deleted, nothing written
    assert sorted(p.name for p in run.iterdir()) == ["last.pt", "metrics.jsonl"]

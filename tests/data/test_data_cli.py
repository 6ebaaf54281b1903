"""`fftk data info` output and `--help` examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fftk_data_fixtures import CIFAR_CLASSES, error_line, run_fftk, write_png_tree


@pytest.mark.parametrize("args", [["data"], ["data", "fetch"], ["data", "info"]])
def test_help_shows_an_example(args: list[str], capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_fftk(capsys, *args, "--help")
    assert code == 0
    assert "Example" in out and "fftk data " in out


def test_info_text_and_json(jpeg_subset: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_fftk(capsys, "data", "info", str(jpeg_subset), "--val-split", "2",
                            "--cache-dir", str(tmp_path))
    assert code == 0
    assert "images   32x32x3 uint8" in out
    assert "classes  10: airplane, automobile, bird" in out
    assert "train    100\n" in out and "val      20  (last 2 per class of train)" in out
    assert "test     30\n" in out
    code, out, _ = run_fftk(capsys, "data", "info", str(jpeg_subset), "--json",
                            "--cache-dir", str(tmp_path))
    info = json.loads(out)
    assert info["image_shape"] == [32, 32, 3] and info["dtype"] == "uint8"
    assert info["classes"] == CIFAR_CLASSES and info["format"] == "imagefolder"
    assert info["splits"] == {"train": 110, "val": 10, "test": 30}  # default: 10 % of 12 -> 1
    assert info["val_split"] == 0.1
    assert Path(info["cache"]).parent == tmp_path / "prepared"


def test_info_rejects_a_bad_val_split(jpeg_subset: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_fftk(capsys, "data", "info", str(jpeg_subset), "--val-split", "1.5",
                            "--cache-dir", str(tmp_path))
    assert code == 2 and "'--val-split': '1.5' is neither a count >= 0 (500) nor a fraction " \
        "in [0, 1)" in error_line(err)
    for bad in ("ten", "-3", "nan"):
        code, _, err = run_fftk(capsys, "data", "info", str(jpeg_subset), "--val-split", bad)
        assert code == 2 and f"'{bad}' is neither a count" in error_line(err)


def test_info_of_a_tree_with_its_own_val(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_png_tree(tmp_path / "t", {"train": {"a": 3, "b": 2}, "val": {"a": 1, "b": 1}})
    code, out, _ = run_fftk(capsys, "data", "info", str(tmp_path / "t"), "--json",
                            "--cache-dir", str(tmp_path / "c"))
    info = json.loads(out)
    assert code == 0 and info["splits"] == {"train": 5, "val": 2, "test": None}
    assert info["val_from"] == "own val/ split" and info["val_split"] is None

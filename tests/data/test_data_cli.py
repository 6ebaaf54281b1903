"""`fftk data info` output and `--help` examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fftk_cli import fftk_in_process, one_line_error
from fftk_data_fixtures import CIFAR_CLASSES, write_png_tree


@pytest.mark.parametrize("args", [["data"], ["data", "fetch"], ["data", "info"]])
def test_help_shows_an_example(args: list[str], capsys: pytest.CaptureFixture) -> None:
    result = fftk_in_process(capsys, *args, "--help")
    assert result.returncode == 0
    assert "Example" in result.stdout and "fftk data " in result.stdout


def test_info_text_and_json(jpeg_subset: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture) -> None:
    result = fftk_in_process(capsys, "data", "info", jpeg_subset, "--val-split", "2",
                             "--cache-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "images   32x32x3 uint8" in out
    assert "classes  10: airplane, automobile, bird" in out
    assert "train    100\n" in out and "val      20  (last 2 per class of train)" in out
    assert "test     30\n" in out
    info = json.loads(fftk_in_process(capsys, "data", "info", jpeg_subset, "--json",
                                      "--cache-dir", tmp_path).stdout)
    assert info["image_shape"] == [32, 32, 3] and info["dtype"] == "uint8"
    assert info["classes"] == CIFAR_CLASSES and info["format"] == "imagefolder"
    assert info["splits"] == {"train": 110, "val": 10, "test": 30}  # default: 10 % of 12 -> 1
    assert info["val_split"] == 0.1
    assert Path(info["cache"]).parent == tmp_path / "prepared"


def test_info_rejects_a_bad_val_split(jpeg_subset: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    one_line_error(fftk_in_process(capsys, "data", "info", jpeg_subset, "--val-split", "1.5",
                                   "--cache-dir", tmp_path),
                   "'--val-split': '1.5' is neither a count >= 0 (500) nor a fraction in [0, 1)")
    for bad in ("ten", "-3", "nan"):
        one_line_error(fftk_in_process(capsys, "data", "info", jpeg_subset, "--val-split", bad),
                       f"'{bad}' is neither a count")


def test_info_of_a_tree_with_its_own_val(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_png_tree(tmp_path / "t", {"train": {"a": 3, "b": 2}, "val": {"a": 1, "b": 1}})
    result = fftk_in_process(capsys, "data", "info", tmp_path / "t", "--json",
                             "--cache-dir", tmp_path / "c")
    info = json.loads(result.stdout)
    assert result.returncode == 0 and info["splits"] == {"train": 5, "val": 2, "test": None}
    assert info["val_from"] == "own val/ split" and info["val_split"] is None

"""Shared fixtures: where the real data lives, and a throwaway dataset cache for the whole run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))  # the stdlib helpers tests share with tools/: loopback
SHARED_DATA = Path(os.environ.get("FFTK_SHARED_DATA") or REPO / ".." / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def fftk_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$FFTK_DATA and $FFTK_C_CACHE (built C engines) point into temp dirs for every test, so
    no test writes to ~/.cache/fftk."""
    path = tmp_path_factory.mktemp("fftk-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FFTK_DATA", str(path))
        patch.setenv("FFTK_C_CACHE", str(tmp_path_factory.mktemp("fftk-c-cache")))
        yield path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real datasets (../shared/data, or $FFTK_SHARED_DATA); skip if absent."""
    if not (SHARED_DATA / "SHA256SUMS").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (set FFTK_SHARED_DATA)")
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def cifar_jpeg_tar(shared_data: Path) -> Path:
    """The CIFAR-10 JPEG training tree, train/<class>/NNNN.jpg, as a .tar.gz (50,000 images)."""
    return shared_data / "cifar10" / "cifar10-train-jpeg.tar.gz"


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONE small exported bundle shared by the export, runtime and demo tests (~40 s, once).

    FF_tiny trained for one epoch on a synthetic 10-class 32x32 RGB image tree (class = faint
    colour + stripe orientation/frequency under heavy noise, so errors and int8 disagreements
    can show; train/ 24 and val/ 8 images per class), exported
    with `--target all --quantize int8 --batch 4 --calib-samples 32`: onnx-fp32, onnx-int8,
    tflite-fp32(-b4), tflite-int8(-b4), each with block files and a head (no Edge TPU compiler
    here). Beside the bundle: `tree/` (the images) and `last.pt` (the checkpoint).
    """
    import numpy as np
    from PIL import Image

    from fftoolkit.export import ExportOptions, export_bundle
    from fftoolkit.train import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny-bundle")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    for k in range(10):
        colour = rng.uniform(0.45, 0.55, 3)
        angle, freq = np.pi * k / 10, 1 + k % 3
        stripes = 0.8 + 0.2 * np.cos(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
        for split, n in (("train", 24), ("val", 8)):
            folder = root / "tree" / split / f"class{k}"
            folder.mkdir(parents=True)
            for i in range(n):
                img = colour * stripes[..., None] + rng.normal(0, 0.45, (32, 32, 3))
                Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(
                    folder / f"{i:03d}.png")
    ckpt = train(TrainConfig(model="ff_tiny", dataset=str(root / "tree"), out=str(root / "run"),
                             epochs=1, batch_size=16, device="cpu", threads=1), progress=False)
    (root / "last.pt").write_bytes(Path(ckpt).read_bytes())
    export_bundle(root / "last.pt", root / "bundle",
                  ExportOptions(target="all", quantize="int8", calib_samples=32, eval_samples=80,
                                batch=4), progress=False)
    return root / "bundle"


@pytest.fixture(scope="session")
def shipped_tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped FF_tiny exported as a user does (`fftk export --target all --quantize int8`:
    ONNX, TFLite and the C engine), int8 calibrated on the first 15 images of each class of
    the bundled demo set (as `make demo` does), so no dataset download is needed (~45 s, once).
    The other 350 demo images were never seen by calibration."""
    from fftk_cli import fftk

    from fftoolkit.demo import split_demo_set, write_tree

    root = tmp_path_factory.mktemp("shipped-tiny")
    calib, held, classes = split_demo_set(15)
    tree = write_tree(root / "calib", calib, held, classes)
    result = fftk("export", REPO / "models" / "weights" / "ff_tiny-cifar10.safetensors",
                  "--target", "all", "--quantize", "int8", "--calib-dataset", tree,
                  "--calib-samples", len(calib), "--eval-samples", 0, "--quiet",
                  "--out", root / "ff_tiny")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, f"a library's log line reached the user: {result.stderr}"
    return root / "ff_tiny"

"""`make demo`: the bundled images, finding the checkpoint, and (slow) the whole job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fftoolkit import demo
from fftoolkit.errors import FFTKError
from fftoolkit.runtime.demo_set import demo_set_path


def test_demo_set_is_small_labelled_and_split_without_overlap() -> None:
    path = demo_set_path()
    assert path.stat().st_size < 3 * 1024 * 1024
    calib, held, classes = demo.split_demo_set(demo.CALIB_PER_CLASS)
    assert classes[0] == "airplane" and len(classes) == 10
    assert (len(calib), len(held)) == (150, 350)
    assert np.bincount(calib.labels).tolist() == [15] * 10
    assert not set(calib.names) & set(held.names)
    assert calib.images[0].shape == (32, 32, 3) and calib.images[0].dtype == np.uint8


def test_missing_checkpoint_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fftoolkit.models.registry as registry

    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path / "weights")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FFTKError, match=r"ff_tiny-cifar10.safetensors: the shipped FF_tiny "
                                        r"checkpoint is missing; train one with"):
        demo.find_checkpoint(None)
    run = tmp_path / demo.TRAINING_RUN
    run.parent.mkdir(parents=True)
    run.write_bytes(b"")
    path, note = demo.find_checkpoint(None)
    assert path == demo.TRAINING_RUN and "not shipped yet" in note


@pytest.mark.slow
def test_demo_exports_and_prints_the_table(tiny_bundle: Path, tmp_path: Path) -> None:
    """The whole main job from the fixture's checkpoint (one extra export, ~1 min)."""
    proc = subprocess.run(
        [sys.executable, "-m", "fftoolkit.cli", "demo", "--checkpoint",
         str(tiny_bundle.parent / "last.pt"), "--out", str(tmp_path / "demo"), "--runs", "5"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    for fmt in ("torch-fp32", "onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8", "c-int8"):
        assert f"| {fmt} " in proc.stdout
    assert "350 images from bundled demo set" in proc.stdout
    assert (tmp_path / "demo" / "bundle" / "c" / "fftk_model.c").is_file()
    assert len(list((tmp_path / "demo" / "logs").glob("*.json"))) == 6


def test_larger_models_are_demoed_where_shipped(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """FF_medium and FF_optimal follow FF_tiny on the int8 formats; one not shipped is a note."""
    import fftoolkit.models.registry as registry

    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "ff_optimal-cifar10.safetensors").write_bytes(b"")
    monkeypatch.setattr(registry, "weights_dir", lambda: weights)
    notes: list[str] = []
    jobs = demo._larger_jobs(tmp_path / "demo", notes.append)
    assert [(name, where.name, formats) for name, _, where, formats in jobs] == \
        [("ff_optimal", "ff_optimal", ("onnx-int8", "tflite-int8", "c-int8"))]
    assert notes == [f"note: {weights / 'ff_medium-cifar10.safetensors'} is not shipped; "
                     "ff_medium is left out of the demo"]
    assert set(demo.LARGER_FORMATS) <= set(demo.DEMO_FORMATS)

"""Weights too large to ship in fp32 (Hinton's 4 x 2000 MLP) ship as fp16 safetensors made by
`tools/ship_weights.py --half`: half the bytes, loaded back into an fp32 network that classifies
as the fp32 weights do; a bad output name is one line, with nothing written and the source
untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from fftk_cli import REPO, cli_env

from fftoolkit.data import load_dataset
from fftoolkit.ff.predict import predict_both
from fftoolkit.models import build_network_from_state, load_checkpoint

SHIPPED = REPO / "models" / "weights" / "mnist_mlp-mnist.safetensors"


def ship(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "tools" / "ship_weights.py"),
                           *map(str, args)], capture_output=True, text=True, env=cli_env())


def classes(path: Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ckpt = load_checkpoint(path)
    net = build_network_from_state(ckpt, str(path))
    assert all(p.dtype == torch.float32 for p in net.parameters())
    return predict_both(net, images, ckpt.normalization["mean"], ckpt.normalization["std"])


def test_half_weights_are_half_the_bytes_and_classify_the_same(shared_data, tmp_path):
    half = tmp_path / "mnist_mlp-half.safetensors"
    result = ship(SHIPPED, half, "--half")
    assert result.returncode == 0, result.stderr
    assert 0.45 < half.stat().st_size / SHIPPED.stat().st_size < 0.55
    stored = load_checkpoint(half)
    assert all(v.dtype == torch.float16 for v in stored.model.values() if v.is_floating_point())
    assert stored.spec == load_checkpoint(SHIPPED).spec

    val = load_dataset(str(shared_data / "mnist"), "val")
    images = val.images[::6]  # 1,000 images, every class
    for fp32, fp16 in zip(classes(SHIPPED, images), classes(half, images), strict=True):
        assert np.mean(fp32 == fp16) >= 0.99  # one-pass, then multi-pass


def test_a_bad_output_name_is_one_line_and_writes_nothing(tmp_path):
    result = ship(SHIPPED, tmp_path / "weights.pt", "--half")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{tmp_path / 'weights.pt'}: the shipped form is a .safetensors file"]
    assert list(tmp_path.iterdir()) == []


def test_the_source_checkpoint_is_never_overwritten(tmp_path):
    source = tmp_path / "mnist_mlp.safetensors"
    source.write_bytes(SHIPPED.read_bytes())
    result = ship(source, source, "--half")
    assert result.returncode == 2 and "would overwrite the checkpoint" in result.stderr
    assert source.read_bytes() == SHIPPED.read_bytes()

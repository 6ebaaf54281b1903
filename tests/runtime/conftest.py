"""Runtime test fixtures: a damageable copy of the shared bundle, and original-FF bundles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the shared bundle, for tests that damage it."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def _export_original(root: Path, spec_yaml: str, target: str) -> Path:
    """A randomly initialised original-FF network exported fp32 (no data needed)."""
    import torch

    from fftoolkit.export import ExportOptions, export_bundle
    from fftoolkit.models import Checkpoint, create_model, load_spec, save_checkpoint

    (root / "spec.yaml").write_text(spec_yaml)
    spec = load_spec(root / "spec.yaml")
    torch.manual_seed(0)
    net = create_model(spec).eval()
    c = spec.input[0]
    save_checkpoint(root / "net.pt", Checkpoint(
        spec=spec.to_dict(), model=net.state_dict(),
        classes=[f"c{i}" for i in range(spec.num_classes)],
        normalization={"mean": [0.0] * c, "std": [1.0] * c}))
    export_bundle(root / "net.pt", root / "bundle",
                  ExportOptions(target=target, quantize="none", eval_samples=0), progress=False)
    return root / "bundle"


@pytest.fixture(scope="session")
def mlp_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Original FF MLP (first-pixels label overlay), ONNX and TFLite fp32 with block files."""
    return _export_original(tmp_path_factory.mktemp("mlp"), """
name: tiny_mlp
algorithm: original
input: [1, 12, 12]
num_classes: 10
layers:
  - {type: linear, units: 64}
  - {type: linear, units: 32}
  - {type: linear, units: 32}
ff: {goodness: mean, threshold: 2.0, overlay: first-pixels}
train: {dataset: mnist}
""", target="all")


@pytest.fixture(scope="session")
def fourier_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Original FF CNN (fourier label patterns shipped as overlay.npy), ONNX fp32."""
    return _export_original(tmp_path_factory.mktemp("fourier"), """
name: tiny_fourier_cnn
algorithm: original
input: [3, 16, 16]
num_classes: 10
layers:
  - {type: conv, channels: 8, kernel: 3, pool: true}
  - {type: conv, channels: 8, kernel: 3}
  - {type: conv, channels: 8, kernel: 3}
ff: {goodness: mean, threshold: 2.0, overlay: fourier}
train: {dataset: cifar10}
""", target="onnx")

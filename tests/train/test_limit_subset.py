"""One seeded subset (fftoolkit.sampling.seeded_subset) behind train/eval/run --limit and export
calibration: eval --limit on a class-sorted tree sees every class and the very images
`fftk run --limit` sees; calibration keeps the images it always picked (int8 bundles stay
byte-identical)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fftoolkit.cli.run_cmd import _inputs
from fftoolkit.models import Checkpoint, create_model, save_checkpoint
from fftoolkit.sampling import seeded_subset
from fftoolkit.train import evaluate as evaluate_mod
from fftoolkit.train.evaluate import evaluate_checkpoint

CLASSES = [f"c{i}" for i in range(10)]


def _old_calibration_subset(n_total: int, n: int, seed: int) -> np.ndarray:
    """fftoolkit/export/calib.py's `subset` before it became seeded_subset, verbatim."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


@pytest.mark.parametrize(("n_total", "n", "seed"), [
    (50000, 512, 0), (45000, 256, 0), (10000, 1000, 3), (60000, 1, 7), (1000, 999, 0),
    (20, 20, 0), (20, 500, 0), (12000, 240, 123),  # small pools and Floyd's branch alike
])
def test_calibration_indices_are_the_old_ones(n_total, n, seed):
    got = seeded_subset(n_total, n, seed)
    assert np.array_equal(got, _old_calibration_subset(n_total, n, seed))
    assert got.dtype == np.int64 and np.all(np.diff(got) > 0)


def test_none_or_too_many_is_everything_in_order():
    assert np.array_equal(seeded_subset(7, None), np.arange(7))
    assert np.array_equal(seeded_subset(7, 7, seed=5), np.arange(7))
    assert np.array_equal(seeded_subset(7, 3), seeded_subset(7, 3, seed=0))  # default seed 0


@pytest.fixture
def class_sorted_tree(tmp_path: Path) -> Path:
    """test/<class>/NNNN.png, 6 images per class, each image's pixels = its global index."""
    root = tmp_path / "sorted"
    k = 0
    for cls in CLASSES:
        (root / "test" / cls).mkdir(parents=True)
        for j in range(6):
            Image.fromarray(np.full((32, 32, 3), k, np.uint8)).save(
                root / "test" / cls / f"{j:04d}.png")
            k += 1
    return root


def test_eval_limit_is_runs_seeded_subset_not_a_prefix(class_sorted_tree, tmp_path,
                                                      monkeypatch):
    torch.manual_seed(0)
    net = create_model("ff_tiny").eval()
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(ckpt, Checkpoint(spec=net.spec.to_dict(), model=net.state_dict(),
                                     classes=CLASSES,
                                     normalization={"mean": [0.5] * 3, "std": [0.25] * 3},
                                     metrics=[]))
    seen = {}
    real = evaluate_mod.predict_both

    def spy(net, images, mean, std, device=None):
        seen["images"] = images.copy()
        return real(net, images, mean, std, device=device)

    monkeypatch.setattr(evaluate_mod, "predict_both", spy)
    result = evaluate_checkpoint(ckpt, str(class_sorted_tree), "test", limit=12)
    assert result.n == 12
    eval_ids = seen["images"][:, 0, 0, 0].astype(int)  # global index of each image seen
    assert len(set(eval_ids // 6)) > 2, eval_ids  # a prefix of 12 would be classes c0, c1 only
    run_inputs, _ = _inputs(None, str(class_sorted_tree), "test", 12, CLASSES,
                            default_demo=False)
    run_ids = np.array([im[0, 0, 0] for im in run_inputs.images], dtype=int)
    assert np.array_equal(eval_ids, run_ids)
    assert np.array_equal(eval_ids, seeded_subset(60, 12, 0))

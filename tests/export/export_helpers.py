"""Small fixture writers for the export tests: image-folder trees and untrained checkpoints."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fftoolkit.models import Checkpoint, create_model, save_checkpoint


def write_tree(root: Path, h: int, w: int, c: int, classes: int, per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k in range(classes):
            folder = root / split / f"c{k}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                a = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
                Image.fromarray(a[..., 0] if c == 1 else a).save(folder / f"{i}.png")
    return root


def write_checkpoint(path: Path, model: str = "ff_tiny", mean: float = 0.5,
                     std: float = 0.25) -> Path:
    torch.manual_seed(0)
    net = create_model(model)
    c = net.spec.input[0]
    save_checkpoint(path, Checkpoint(spec=net.spec.to_dict(), model=net.state_dict(),
                                     classes=[f"c{k}" for k in range(10)],
                                     normalization={"mean": [mean] * c, "std": [std] * c}))
    return path

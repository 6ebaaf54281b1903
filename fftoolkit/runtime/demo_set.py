"""The small validation set shipped in the package (`models/demo/`, packaged as `fftoolkit/zoo`).

500 CIFAR-10 validation images (50 per class, uint8 NHWC, never trained on) so `make demo`
and a board with no dataset can measure accuracy offline. Found without importing the model
registry (which needs torch).
"""

from __future__ import annotations

from pathlib import Path

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.images import Inputs, load_inputs

DEMO_SET = "demo/cifar10-val-500.npz"


def demo_set_path() -> Path:
    package = Path(__file__).resolve().parents[1]  # the installed fftoolkit folder
    for root in (package / "zoo", package.parent / "models"):
        if (root / DEMO_SET).is_file():
            return root / DEMO_SET
    raise FFTKError(f"the bundled demo set {DEMO_SET} is missing from this install")


def load_demo_set(classes: list[str]) -> Inputs:
    """The demo images, checked against the model's classes."""
    try:
        return load_inputs(demo_set_path(), classes)
    except FFTKError as exc:
        raise FFTKError(f"{exc}; the bundled demo set is CIFAR-10: give INPUT or --dataset "
                        "for this model") from None

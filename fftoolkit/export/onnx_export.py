"""torch -> ONNX (opset 17, TorchScript exporter, dynamic batch), checked with the full checker."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

OPSET = 17


def export_onnx(module: nn.Module, inputs: dict[str, tuple[int, ...]], outputs: list[str],
                path: Path) -> None:
    """Write `module` to `path` with named inputs (per-sample shapes) and a dynamic batch axis.

    The sample batch is 2, not 1, so no shape gets specialised to a batch of one.
    """
    import onnx

    samples = tuple(torch.zeros(2, *shape) for shape in inputs.values())
    axes = {name: {0: "batch"} for name in [*inputs, *outputs]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript exporter deprecation notices
        torch.onnx.export(module, samples, str(path), dynamo=False, opset_version=OPSET,
                          input_names=list(inputs), output_names=outputs, dynamic_axes=axes,
                          do_constant_folding=True)
    onnx.checker.check_model(str(path), full_check=True)

"""Build the int8/fp32 3x3-conv probe models that `fftk bench` times to measure this CPU's
conv rate (GMAC/s), so a model's latency can be reported as a fraction of what the CPU does.

Run once with the exporter toolchain (`pip install 'fftoolkit[export]'`):
    python -m fftoolkit.reference.conv_probe fftoolkit/bench/probes
The two small .tflite files it writes are shipped in the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# One large 3x3 conv: 64 -> 64 channels at 56x56 (115.6 M MACs), NHWC I/O.
CHANNELS, SIZE, KERNEL = 64, 56, 3


def build(out_dir: Path) -> list[Path]:
    import ai_edge_quantizer
    import litert_torch
    import torch
    from ai_edge_quantizer import recipe

    from fftoolkit.atomic import atomic_path

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(CHANNELS, CHANNELS, KERNEL, padding=1, bias=True).eval()
    model = litert_torch.to_channel_last_io(conv, args=[0], outputs=[0])
    sample = (torch.randn(1, SIZE, SIZE, CHANNELS),)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / "conv3x3.fp32.tflite"
    with atomic_path(fp32) as tmp:
        litert_torch.convert(model, sample).export(str(tmp))
    quantizer = ai_edge_quantizer.Quantizer(str(fp32))
    quantizer.load_quantization_recipe(recipe.static_wi8_ai8())
    rng = np.random.default_rng(0)
    calib = {"serving_default": [{"args_0": rng.standard_normal((1, SIZE, SIZE, CHANNELS))
                                  .astype(np.float32)} for _ in range(8)]}
    result = quantizer.calibrate(calib)
    int8 = out_dir / "conv3x3.int8.tflite"
    with atomic_path(int8) as tmp:
        quantizer.quantize(result).export_model(str(tmp), overwrite=True)
    return [fp32, int8]


if __name__ == "__main__":
    for path in build(Path(sys.argv[1] if len(sys.argv) > 1 else "fftoolkit/bench/probes")):
        print(path, path.stat().st_size)

"""The runner's numpy goodness equals the torch equations it replaces."""

import numpy as np
import torch

from fftoolkit.export.graphs import OverlayPredictor
from fftoolkit.ff import channel_goodness, make_predictor
from fftoolkit.models import create_model
from fftoolkit.runtime.goodness import goodness_from_features, overlay_goodness
from fftoolkit.runtime.manifest import TensorInfo
from fftoolkit.runtime.quant import dequantize


def test_goodness_from_features_matches_eq2_in_both_layouts():
    torch.manual_seed(0)
    a, b = torch.rand(4, 50, 8, 8), torch.rand(4, 50, 7, 7)
    ref = (channel_goodness(a, 10) + channel_goodness(b, 10)).numpy()
    nchw = goodness_from_features(a.numpy(), b.numpy(), 10, "NCHW")
    nhwc = goodness_from_features(a.permute(0, 2, 3, 1).numpy(), b.permute(0, 2, 3, 1).numpy(),
                                  10, "NHWC")
    np.testing.assert_allclose(nchw, ref, rtol=1e-5)
    np.testing.assert_allclose(nhwc, ref, rtol=1e-5)


def test_dequantize():
    q = np.array([-128, 0, 127], dtype=np.int8)
    info = TensorInfo("y", [3], "int8", {"scale": 0.5, "zero_point": -128})
    np.testing.assert_allclose(dequantize(q, info), [0.0, 64.0, 127.5])


def test_overlay_predictor_and_numpy_goodness_match_the_trained_predictor():
    torch.manual_seed(0)
    for name in ("mnist_mlp", "mnist_cnn"):  # first-pixels and fourier overlays
        net = create_model(name).eval()
        x = torch.randn(3, *net.spec.input)
        patterns = None
        if net.spec.ff.overlay == "fourier":
            from fftoolkit.ff.overlay import fourier_patterns
            patterns = fourier_patterns(10, x.shape[-2], x.shape[-1])
        with torch.no_grad():
            logits, good = make_predictor(net)(x)
            lean_logits, lean_good = OverlayPredictor(net, patterns, "in-graph")(x)
            _, *feats = OverlayPredictor(net, patterns, "from-features")(x)
        torch.testing.assert_close(lean_logits, logits)
        torch.testing.assert_close(lean_good, good)
        np.testing.assert_allclose(
            overlay_goodness([f.numpy() for f in feats], 10, net.spec.ff.goodness),
            good.numpy(), rtol=1e-5, atol=1e-7)

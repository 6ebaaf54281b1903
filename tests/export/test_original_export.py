"""Original (Hinton) FF networks export too: the fused graphs batch the J label overlays
themselves and match the torch predictor; TFLite outputs the overlaid features for the runner."""

import numpy as np
import onnxruntime as ort
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter
from export_helpers import write_checkpoint, write_tree

from fftoolkit.export import ExportOptions, export_bundle
from fftoolkit.export.calib import normalise
from fftoolkit.ff import make_predictor
from fftoolkit.ff.overlay import fourier_patterns
from fftoolkit.runtime.goodness import overlay_goodness
from fftoolkit.runtime.manifest import load_manifest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model, target", [("mnist_mlp", "all"), ("mnist_cnn", "onnx")])
def test_original_ff_bundle_matches_torch(tmp_path, model, target):
    ckpt = write_checkpoint(tmp_path / f"{model}.pt", model)
    tree = write_tree(tmp_path / "tree", 28, 28, 1, 10, per_class=2)
    out = tmp_path / "bundle"
    export_bundle(ckpt, out, ExportOptions(target=target, quantize="int8",
                                           calib_dataset=str(tree), calib_samples=8),
                  progress=False)
    m = load_manifest(out)
    assert m.algorithm == "original" and m.multi_pass["kind"] == "label-overlay"
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    from fftoolkit.ff.predict import to_float
    from fftoolkit.models import build_network_from_state, load_checkpoint

    state = load_checkpoint(ckpt)
    net = build_network_from_state(state)
    x = to_float(torch.from_numpy(images), [0.5], [0.25])
    with torch.no_grad():
        ref_logits, ref_good = make_predictor(net)(x)
    xn = normalise(images, m.normalization)
    sess = ort.InferenceSession(str(out / m.artifacts["onnx-fp32"].fused.file))
    logits, good = sess.run(None, {"image": xn})
    np.testing.assert_allclose(logits, ref_logits.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(good, ref_good.numpy(), rtol=1e-4, atol=1e-5)
    # per-block files: the runner overlays the neutral label, chains the layers, runs the head
    from fftoolkit.ff.overlay import apply_overlay

    art = m.artifacts["onnx-fp32"]
    y = apply_overlay(net.spec.ff.overlay, torch.from_numpy(xn), None, 10).numpy()
    feats = []
    for block in art.blocks:
        (y,) = ort.InferenceSession(str(out / block.file)).run(None, {"input": y})
        feats.append(y)
    head = ort.InferenceSession(str(out / art.head.file))
    (chained,) = head.run(None, {i.name: feats[b] for i, b in zip(head.get_inputs(),
                                                                  m.head_blocks, strict=True)})
    np.testing.assert_allclose(chained, ref_logits.numpy(), rtol=1e-4, atol=1e-5)
    if model == "mnist_cnn":
        np.testing.assert_array_equal(np.load(out / "overlay.npy"),
                                      fourier_patterns(10, 28, 28).numpy())
        return
    art = m.artifacts["tflite-fp32"]
    assert art.goodness == "from-features" and len(art.fused.outputs) == 1 + 1  # layer 2 only
    it = Interpreter(model_path=str(out / art.fused.file))
    it.allocate_tensors()
    idx = {d["name"]: d["index"] for d in [*it.get_input_details(), *it.get_output_details()]}
    for i in range(3):
        it.set_tensor(idx[art.fused.inputs[0].name], xn[i:i + 1].transpose(0, 2, 3, 1))
        it.invoke()
        outs = [it.get_tensor(idx[o.name]) for o in art.fused.outputs]
        assert outs[1].shape == (10, 100)  # J overlays x 100 units, label-major
        np.testing.assert_allclose(outs[0], ref_logits[i:i + 1].numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(overlay_goodness(outs[1:], 10, "mean"),
                                   ref_good[i:i + 1].numpy(), rtol=1e-4, atol=1e-6)

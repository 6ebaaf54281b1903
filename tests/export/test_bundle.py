"""The exported bundle: manifest, file integrity, ONNX/TFLite correctness against torch, chaining
block files = fused model, full-integer TFLite, int8 agreement and size. Uses `tiny_bundle`."""

import json

import numpy as np
import onnx
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter

from fftoolkit.data import load_dataset
from fftoolkit.export.calib import normalise
from fftoolkit.export.graphs import build_graphs
from fftoolkit.ff import make_predictor
from fftoolkit.ff.predict import to_float
from fftoolkit.models import build_network_from_state, load_checkpoint, load_spec, macs_per_image
from fftoolkit.runtime.backends import open_session
from fftoolkit.runtime.goodness import goodness_from_features
from fftoolkit.runtime.graph import ModelRunner
from fftoolkit.runtime.manifest import load_manifest, sha256_file, verify_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest(tiny_bundle):
    return load_manifest(tiny_bundle)


@pytest.fixture(scope="module")
def val(tiny_bundle):
    ds = load_dataset(tiny_bundle.parent / "tree", "val")
    return ds.images, ds.labels


@pytest.fixture(scope="module")
def reference(tiny_bundle, val):
    """The source network rebuilt from reference.safetensors: its features and outputs."""
    state = load_checkpoint(tiny_bundle / "reference.safetensors")
    net = build_network_from_state(state)
    norm = state.normalization
    x = to_float(torch.from_numpy(val[0]), norm["mean"], norm["std"])
    graphs = build_graphs(net, norm)
    lean, y = [], torch.from_numpy(normalise(val[0], graphs.normalization))
    with torch.no_grad():
        feats = net.forward_features(x)
        logits, good = make_predictor(net)(x)
        for block in graphs.blocks:  # blocks 0, 1 carry the next BN's scale (equalised)
            y = block(y)
            lean.append(y.numpy())
    return {"net": net, "feats": [f.numpy() for f in feats], "lean": lean,
            "logits": logits.numpy(), "goodness": good.numpy()}


def run_file(bundle, entry, *inputs):
    """One bundle file run by the runtime (float in, float out; int8 I/O quantized with the
    manifest's scale and zero point), as a board runs it."""
    path = bundle / entry.file
    backend = "onnxruntime" if path.suffix == ".onnx" else "litert"
    return ModelRunner(open_session(backend, path, 1), entry, path)(list(inputs))


def nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def test_manifest_lists_every_file_with_its_sha256(tiny_bundle, manifest):
    assert set(manifest.artifacts) == {"onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-fp32-b4",
                                       "tflite-int8", "tflite-int8-b4", "c-int8"}
    assert manifest.algorithm == "improved" and manifest.model_name == "ff_tiny"
    assert manifest.input_shape == [3, 32, 32] and len(manifest.classes) == 10
    assert manifest.goodness_blocks == [2, 3] and manifest.head_blocks == [2, 3]
    assert manifest.multi_pass == {"kind": "channel-groups", "groups": 10}
    assert manifest.source_checkpoint_sha256 == sha256_file(tiny_bundle.parent / "last.pt")
    verify_file(tiny_bundle, manifest.reference)
    listed = {"manifest.json", "report.json", manifest.reference.file}
    for art in manifest.artifacts.values():
        for f in [art.fused, *art.blocks, *([art.head] if art.head else []), *art.sources]:
            verify_file(tiny_bundle, f)
            listed.add(f.file.split("/")[0])  # c-int8's files are c/<name>
        if art.batch != 4 and art.format != "c":  # model.int8.onnx -> block_0.int8.onnx ...
            tail = art.fused.file[len("model"):]
            assert [b.file for b in art.blocks] == [f"block_{i}{tail}" for i in range(4)]
            assert art.head.file == f"head{tail}"
    assert {p.name for p in tiny_bundle.iterdir()} == listed, "no unlisted or temp files"


def test_onnx_files_pass_the_full_checker(tiny_bundle):
    files = sorted(tiny_bundle.glob("*.onnx"))
    assert len(files) == 12  # model + 4 blocks + head, fp32 and int8
    for f in files:
        onnx.checker.check_model(str(f), full_check=True)


def test_onnx_fp32_matches_torch_per_block_and_fused_at_any_batch(tiny_bundle, manifest, val,
                                                                  reference):
    art = manifest.artifacts["onnx-fp32"]
    assert art.batch is None and art.fused.inputs[0].shape == [None, 3, 32, 32]
    x = normalise(val[0], manifest.normalization)  # pixel - 128
    feats = reference["lean"]
    for i in (2, 3):  # the blocks read by head and goodness are exact
        np.testing.assert_allclose(feats[i], reference["feats"][i], rtol=1e-4, atol=1e-5)
    for n in (1, 3, len(x)):  # dynamic batch
        logits, good = run_file(tiny_bundle, art.fused, x[:n])
        np.testing.assert_allclose(logits, reference["logits"][:n], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(good, reference["goodness"][:n], rtol=1e-4, atol=1e-5)
    inputs = [x, *feats[:-1]]
    for i, block in enumerate(art.blocks):
        (out,) = run_file(tiny_bundle, block, inputs[i])
        np.testing.assert_allclose(out, feats[i], rtol=1e-4, atol=1e-5)
    (head_logits,) = run_file(tiny_bundle, art.head, feats[2], feats[3])
    np.testing.assert_allclose(head_logits, reference["logits"], rtol=1e-4, atol=1e-5)


def test_chained_onnx_block_files_equal_the_fused_model(tiny_bundle, manifest, val):
    for key in ("onnx-fp32", "onnx-int8"):
        art = manifest.artifacts[key]
        x = normalise(val[0], manifest.normalization)
        feats = []
        for block in art.blocks:
            (x,) = run_file(tiny_bundle, block, x)
            feats.append(x)
        (logits,) = run_file(tiny_bundle, art.head, feats[2], feats[3])
        good = goodness_from_features(feats[2], feats[3], 10, "NCHW")
        f_logits, f_good = run_file(tiny_bundle, art.fused,
                                   normalise(val[0], manifest.normalization))
        tol = {"rtol": 1e-4, "atol": 1e-5} if key == "onnx-fp32" else {"rtol": 0, "atol": 0.3}
        np.testing.assert_allclose(logits, f_logits, **tol)
        np.testing.assert_allclose(good, f_good, rtol=tol["rtol"], atol=tol["atol"] / 30)


def test_tflite_fp32_matches_torch_and_its_chained_blocks(tiny_bundle, manifest, val, reference):
    art = manifest.artifacts["tflite-fp32"]
    assert art.layout == "NHWC" and art.goodness == "from-features" and art.batch == 1
    assert art.fused.inputs[0].shape == [1, 32, 32, 3]
    x = nhwc(normalise(val[0][:6], manifest.normalization))
    for i in range(6):
        logits, fa, fb = run_file(tiny_bundle, art.fused, x[i:i + 1])
        np.testing.assert_allclose(logits, reference["logits"][i:i + 1], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(goodness_from_features(fa, fb, 10, "NHWC"),
                                   reference["goodness"][i:i + 1], rtol=1e-4, atol=1e-5)
        y, feats = x[i:i + 1], []
        for block in art.blocks:
            (y,) = run_file(tiny_bundle, block, y)
            feats.append(y)
        np.testing.assert_allclose(feats[2], fa, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(feats[3], fb, rtol=1e-5, atol=1e-5)
        (head,) = run_file(tiny_bundle, art.head, feats[2], feats[3])
        np.testing.assert_allclose(head, logits, rtol=1e-4, atol=1e-4)


def test_tflite_int8_is_full_integer_with_static_nhwc_io(tiny_bundle, manifest):
    for key, batch in (("tflite-int8", 1), ("tflite-int8-b4", 4)):
        art = manifest.artifacts[key]
        files = [art.fused, *art.blocks, *([art.head] if art.head else [])]
        assert len(files) == (6 if batch == 1 else 1)
        for f in files:
            it = Interpreter(model_path=str(tiny_bundle / f.file))
            details = it.get_tensor_details()
            floats = [d["name"] for d in details if np.dtype(d["dtype"]).kind == "f"]
            assert not floats, f"{f.file} has float tensors {floats[:3]}"
            for d in [*it.get_input_details(), *it.get_output_details()]:
                assert d["dtype"] == np.int8, f"{f.file}: {d['name']} is {d['dtype']}"
                assert -1 not in d["shape_signature"], "static shapes only"
            for t in [*f.inputs, *f.outputs]:
                assert t.dtype == "int8" and t.quant and t.quant["scale"] > 0
        for image_input in [art.fused.inputs[0], *[b.inputs[0] for b in art.blocks[:1]]]:
            # the int8 input is the image itself: q = pixel - 128, exactly
            assert image_input.quant == {"scale": 1.0, "zero_point": 0}
        assert manifest.normalization["std"] == [1 / 255] * 3
        assert art.fused.inputs[0].shape == [batch, 32, 32, 3]
        assert art.fused.outputs[1].shape == [batch, 8, 8, 50]  # NHWC features of block 2


def test_int8_agrees_with_fp32_torch(tiny_bundle, manifest, val, reference):
    """The SPEC §5 pitfall (wrong int8 outputs on CPUs without VNNI) shows as disagreement,
    so check agreement and closeness of the outputs, not just that the files load."""
    x = normalise(val[0], manifest.normalization)
    ref_one, ref_multi = reference["logits"].argmax(1), reference["goodness"].argmax(1)
    logits, good = run_file(tiny_bundle, manifest.artifacts["onnx-int8"].fused, x)
    art = manifest.artifacts["tflite-int8-b4"]
    outs = [run_file(tiny_bundle, art.fused, nhwc(x[i:i + 4]))
            for i in range(0, len(x), 4)]
    t_logits = np.concatenate([o[0] for o in outs])
    t_good = goodness_from_features(np.concatenate([o[1] for o in outs]),
                                    np.concatenate([o[2] for o in outs]), 10, "NHWC")
    for lg, gd in ((logits, good), (t_logits, t_good)):
        assert (lg.argmax(1) == ref_one).mean() >= 0.95
        assert (gd.argmax(1) == ref_multi).mean() >= 0.95
        scale = np.abs(reference["logits"]).max()
        assert np.abs(lg - reference["logits"]).mean() < 0.03 * scale


def test_onnx_int8_keeps_the_goodness_reduction_in_float(tiny_bundle, manifest):
    graph = onnx.load(str(tiny_bundle / manifest.artifacts["onnx-int8"].fused.file)).graph
    producer = {o: n for n in graph.node for o in n.output}
    assert producer["goodness"].op_type != "DequantizeLinear"
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    pow_inputs = [producer[n.input[0]].op_type for n in graph.node if n.op_type == "Pow"]
    assert pow_inputs and "QuantizeLinear" not in pow_inputs


def test_int8_files_are_under_a_third_of_fp32(tiny_bundle, manifest):
    report = json.loads((tiny_bundle / "report.json").read_text())
    for fmt in ("onnx", "tflite"):
        fp32 = (tiny_bundle / manifest.artifacts[f"{fmt}-fp32"].fused.file).stat().st_size
        int8 = (tiny_bundle / manifest.artifacts[f"{fmt}-int8"].fused.file).stat().st_size
        assert int8 <= 0.3 * fp32
        assert report["int8_to_fp32_fused_size"][f"{fmt}-int8"] == round(int8 / fp32, 4)


def test_report(tiny_bundle):
    report = json.loads((tiny_bundle / "report.json").read_text())
    assert report["parameters"] == {"deployed": 154466, "table3": 164706}
    assert report["macs_per_image"] == macs_per_image(load_spec("ff_tiny"))
    rows = report["accuracy"]["rows"]
    assert report["accuracy"]["images"] == 80 and report["accuracy"]["split"] == "val"
    assert set(rows) == {"torch-fp32", "onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-fp32-b4",
                         "tflite-int8", "tflite-int8-b4"}
    for key in ("onnx-fp32", "tflite-fp32", "tflite-fp32-b4"):
        assert rows[key]["one_pass_agreement"] == rows[key]["multi_pass_agreement"] == 100.0
    assert any("edgetpu_compiler" in n and "model.int8.tflite" in n for n in report["notes"])

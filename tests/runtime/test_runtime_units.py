"""The pure pieces of the runtime: quantization, preprocessing, overlays, goodness, inputs
and the formats table. No bundle needed (the bench harness's pieces: tests/bench)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fftoolkit.errors import FFTKError
from fftoolkit.ff.goodness import goodness as torch_goodness
from fftoolkit.ff.overlay import first_pixels_overlay, fourier_overlay, fourier_patterns
from fftoolkit.runtime import overlay
from fftoolkit.runtime.formats import find_artifact, format_for, get_format
from fftoolkit.runtime.goodness import layer_goodness
from fftoolkit.runtime.images import decode_image, load_arrays, load_inputs
from fftoolkit.runtime.manifest import TensorInfo
from fftoolkit.runtime.preprocess import Preprocessor, resize_bilinear
from fftoolkit.runtime.quant import dequantize, quantize

INT8 = TensorInfo("x", [1, 4], "int8", {"scale": 0.5, "zero_point": -3})


def test_quantize_uses_manifest_scale_and_zero_point() -> None:
    q = quantize(np.array([0.0, 1.0, -1.0, 1000.0, -1000.0], np.float32), INT8)
    assert q.dtype == np.int8
    assert q.tolist() == [-3, -1, -5, 127, -128]  # round(x / 0.5) - 3, clipped
    assert dequantize(q[:3], INT8).tolist() == [0.0, 1.0, -1.0]


def test_quantize_uint8_and_float_passthrough() -> None:
    u8 = TensorInfo("x", [1], "uint8", {"scale": 0.1, "zero_point": 128})
    assert quantize(np.array([0.0, -20.0]), u8).tolist() == [128, 0]
    f = TensorInfo("x", [1], "float32")
    assert quantize(np.array([1.5]), f).dtype == np.float32
    with pytest.raises(ValueError, match="no scale"):
        quantize(np.zeros(1), TensorInfo("x", [1], "int8"))


def test_resize_bilinear_keeps_constants_and_size() -> None:
    img = np.full((40, 48, 3), 77, np.uint8)
    out = resize_bilinear(img, 32, 32)
    assert out.shape == (32, 32, 3) and np.allclose(out, 77)
    ramp = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (8, 1, 1))
    half = resize_bilinear(ramp, 8, 32)
    assert np.all(np.diff(half[0, :, 0]) > 0)  # still increasing: no columns swapped


def test_preprocessor_layout_normalisation_and_channel_check() -> None:
    pre_nchw = Preprocessor([3, 2, 2], {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1.0]}, "NCHW")
    pre_nhwc = Preprocessor([3, 2, 2], {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1.0]}, "NHWC")
    img = np.full((2, 2, 3), 255, np.uint8)
    a, b = pre_nchw([img]), pre_nhwc([img])
    assert a.shape == (1, 3, 2, 2) and b.shape == (1, 2, 2, 3)
    assert np.allclose(a[0, :, 0, 0], [2.0, 1.0, 0.5]) and np.allclose(a.transpose(0, 2, 3, 1), b)
    with pytest.raises(FFTKError, match=r"gray\.png: image has 1 channels; the model expects "
                                        r"2x2 images with 3 channel"):
        pre_nchw.resize_note([np.zeros((2, 2, 1), np.uint8)], ["gray.png"])
    assert "resized" in pre_nchw.resize_note([np.zeros((5, 7, 3), np.uint8)], ["big.png"])
    assert pre_nchw.resize_note([img], ["ok.png"]) is None


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_first_pixels_overlay_matches_torch(layout: str) -> None:
    x = np.random.default_rng(0).random((4, 3, 5, 5), dtype=np.float32)  # C*H*W > J
    labels = np.array([0, 3, 9, 5])
    for lab in (labels, None):
        ref = first_pixels_overlay(torch.from_numpy(x), None if lab is None
                                   else torch.from_numpy(lab), 10).numpy()
        xin = x if layout == "NCHW" else x.transpose(0, 2, 3, 1)
        got = overlay.apply("first-pixels", xin, lab, 10, layout, None)
        got = got if layout == "NCHW" else got.transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_fourier_overlay_matches_torch(layout: str) -> None:
    x = np.random.default_rng(1).random((3, 2, 8, 8), dtype=np.float32)
    patterns = fourier_patterns(10, 8, 8)
    labels = np.array([1, 7, 2])
    ref = fourier_overlay(torch.from_numpy(x), torch.from_numpy(labels), patterns).numpy()
    xin = x if layout == "NCHW" else x.transpose(0, 2, 3, 1)
    got = overlay.apply("fourier", xin, labels, 10, layout, patterns.numpy())
    got = got if layout == "NCHW" else got.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    with pytest.raises(FFTKError, match="no patterns"):
        overlay.apply("fourier", xin, labels, 10, layout, None)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_layer_goodness_matches_torch(reduction: str) -> None:
    h = np.random.default_rng(2).standard_normal((5, 4, 3, 3)).astype(np.float32)
    ref = torch_goodness(torch.from_numpy(h), reduction).numpy()
    np.testing.assert_allclose(layer_goodness(h, reduction), ref, rtol=1e-5)


def test_load_arrays_shapes_and_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.zeros((8, 8, 3), np.uint8))
    np.save(tmp_path / "gray_batch.npy", np.zeros((5, 8, 8), np.uint8))
    np.save(tmp_path / "float.npy", np.zeros((8, 8, 3), np.float32))
    np.savez(tmp_path / "nolabels.npz", pictures=np.zeros((2, 8, 8, 3), np.uint8))
    assert load_arrays(tmp_path / "one.npy")[0].shape == (1, 8, 8, 3)
    assert load_arrays(tmp_path / "gray_batch.npy")[0].shape == (5, 8, 8, 1)
    with pytest.raises(FFTKError, match=r"float\.npy: expected uint8"):
        load_arrays(tmp_path / "float.npy")
    with pytest.raises(FFTKError, match=r"nolabels\.npz: .npz has no 'images'"):
        load_arrays(tmp_path / "nolabels.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FFTKError, match=r"broken\.npz: not a readable"):
        load_arrays(tmp_path / "broken.npz")


def test_load_inputs_folder_labels_from_class_folders(tmp_path: Path) -> None:
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / cls / "a.png")
    (tmp_path / "notes.txt").write_text("ignored")
    inputs = load_inputs(tmp_path, ["dog", "cat"])
    assert inputs.labels.tolist() == [1, 0] and inputs.labelled
    assert inputs.paths == [tmp_path / "cat" / "a.png", tmp_path / "dog" / "a.png"]
    with pytest.raises(FFTKError, match="not an image"):
        load_inputs(tmp_path / "notes.txt", ["dog", "cat"])
    with pytest.raises(FFTKError, match="no such file"):
        load_inputs(tmp_path / "missing.png", ["dog", "cat"])


def test_decode_image_modes_and_corrupt_file(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.zeros((4, 6, 4), np.uint8)).save(tmp_path / "rgba.png")
    assert decode_image(tmp_path / "g.png").shape == (4, 6, 1)
    assert decode_image(tmp_path / "rgba.png").shape == (4, 6, 4)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(FFTKError, match=r"bad\.jpg: not a readable image"):
        decode_image(tmp_path / "bad.jpg")


def test_formats_table() -> None:
    assert format_for("litert", "int8").name == "tflite-int8"
    assert format_for("tflite-runtime", "fp32").name == "tflite-fp32"
    assert format_for("onnxruntime", "int8").name == "onnx-int8"
    with pytest.raises(FFTKError, match="runs int8 models, not fp32"):
        format_for("edgetpu", "fp32")
    with pytest.raises(FFTKError, match="unknown backend 'tensorrt'"):
        format_for("tensorrt", "fp32")
    with pytest.raises(FFTKError, match="unknown format"):
        get_format("coreml-fp16")


def test_find_artifact_names_what_the_bundle_has() -> None:
    class M:  # only the attribute find_artifact reads
        artifacts = {"onnx-fp32": "A", "tflite-int8": "B", "tflite-int8-b8": "C"}

    assert find_artifact(M(), get_format("tflite-int8"), "b", batch=8) == ("tflite-int8-b8", "C")
    assert find_artifact(M(), get_format("edgetpu-int8"), "b")[0] == "tflite-int8"
    with pytest.raises(FFTKError, match=r"no 'onnx-int8' model \(it has: onnx-fp32"):
        find_artifact(M(), get_format("onnx-int8"), "b")


def test_limit_draws_a_seeded_subset_in_order() -> None:
    from fftoolkit.runtime.images import Inputs

    labels = np.repeat(np.arange(10), 50)  # class-sorted, like a dataset split
    inputs = Inputs([np.full((2, 2, 3), i % 256, np.uint8) for i in range(500)],
                    [str(i) for i in range(500)], labels)
    a, b = inputs.subset(40), inputs.subset(40)
    assert a.names == b.names and len(a) == 40 and len(set(a.labels.tolist())) >= 8
    assert [int(n) for n in a.names] == sorted(int(n) for n in a.names)
    assert all(int(im[0, 0, 0]) == int(n) % 256 for im, n in zip(a.images, a.names, strict=True))
    assert inputs.subset(None) is inputs and inputs.subset(1000) is inputs


def test_onnx_run_failure_is_one_error_naming_the_file(tmp_path: Path,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    """A model that fails while running (here a Reshape the input cannot take) is an FFTKError
    naming the file, and ONNX Runtime does not log the failure again on stderr."""
    import onnx
    from onnx import TensorProto, helper

    from fftoolkit.runtime.backends import open_session

    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 2])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])], [shape])
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    session = open_session("onnxruntime", path, 1)
    assert session.run([np.zeros((2, 3), np.float32)], [0])[0].shape == (3, 2)
    capfd.readouterr()
    with pytest.raises(FFTKError, match=r"odd\.onnx: inference failed \(.*Reshape"):
        session.run([np.zeros((1, 3), np.float32)], [0])
    assert capfd.readouterr().err == ""

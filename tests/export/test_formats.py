"""The format table drives what an export writes, and rejects what cannot be built."""

import pytest

from fftoolkit.errors import FFTKError
from fftoolkit.export.formats import FORMATS, for_network, plan


def keys(target, quantize, batch=1):
    return [p.key for p in plan(target, quantize, batch)]


def test_plans():
    assert keys("onnx", "none") == ["onnx-fp32"]
    assert keys("onnx", "int8", batch=8) == ["onnx-fp32", "onnx-int8"]  # ONNX batch is dynamic
    assert keys("tflite", "int8") == ["tflite-fp32", "tflite-int8"]
    assert keys("tflite", "int8", 8) == ["tflite-fp32", "tflite-fp32-b8", "tflite-int8",
                                         "tflite-int8-b8"]
    assert keys("edgetpu", "int8") == ["tflite-fp32", "tflite-int8", "edgetpu-int8"]
    assert keys("all", "int8") == ["onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8",
                                   "edgetpu-int8", "c-int8"]
    assert keys("all", "none") == ["onnx-fp32", "tflite-fp32"]
    assert keys("c", "int8") == ["tflite-fp32", "tflite-int8", "c-int8"]  # c is made from int8
    assert keys("c", "int8", 4) == ["tflite-fp32", "tflite-fp32-b4", "tflite-int8",
                                    "tflite-int8-b4", "c-int8"]  # one image at a time


def test_the_c_engine_runs_channel_groups_only():
    """An original-FF model: `all` drops c-int8 with a note, `--target c` is an error."""
    planned, notes = for_network(plan("all", "int8"), "all", "label-overlay", "mnist_mlp")
    assert "c-int8" not in [p.key for p in planned] and "tflite-int8" in [p.key for p in planned]
    assert notes == ["no C engine (c-int8): the C engine runs improved-FF (channel-group) "
                     "models; mnist_mlp is an original-FF model (label-overlay)"]
    with pytest.raises(FFTKError, match=r"--target c: the C engine runs improved-FF"):
        for_network(plan("c", "int8"), "c", "label-overlay", "mnist_mlp")
    assert for_network(plan("c", "int8"), "c", "channel-groups", "ff_tiny") == (
        plan("c", "int8"), [])


@pytest.mark.parametrize("args, message", [
    (("coreml", "none"), "unknown target 'coreml'"),
    (("onnx", "int4"), "unknown --quantize 'int4'"),
    (("edgetpu", "none"), "needs --quantize int8"),
    (("c", "none"), r"--target c needs --quantize int8 \(the C engine is generated from the "
                    r"int8 TFLite model\)"),
    (("onnx", "none", 0), "--batch must be >= 1"),
])
def test_bad_plans(args, message):
    with pytest.raises(FFTKError, match=message):
        plan(*args)


def test_file_names_follow_the_manifest_layout():
    assert FORMATS["onnx-fp32"].file_name("model") == "model.onnx"
    assert FORMATS["onnx-int8"].file_name("block_0") == "block_0.int8.onnx"
    assert FORMATS["tflite-int8"].file_name("model", 8) == "model.int8.b8.tflite"
    assert FORMATS["edgetpu-int8"].file_name("model") == "model.int8_edgetpu.tflite"


def test_constant_calibration_ranges_are_widened():
    """A tensor that never varied during calibration would get scale 0 (XNNPACK refuses it)."""
    import numpy as np

    from fftoolkit.export.tflite_export import _widen_constant_ranges

    f = np.float32
    qsvs = {"a": {"min": np.array([[0.0]], f), "max": np.array([[4.0]], f)},
            "b": {"min": np.array([[-1.0]], f), "max": np.array([[5.0]], f)},
            "c": {"min": np.array([[0.0]], f), "max": np.array([[0.0]], f)},
            "d": {"min": np.array([[2.0]], f), "max": np.array([[6.0]], f)}}
    out = _widen_constant_ranges(qsvs)
    assert out["c"]["min"].item() == -2.0 and out["c"]["max"].item() == 2.0  # median width 4
    assert out["a"] is qsvs["a"] and out["b"] is qsvs["b"]

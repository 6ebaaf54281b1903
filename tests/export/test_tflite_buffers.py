"""Every .tflite the exporter writes keeps its constants inline (`Buffer.data`).

ai-edge-quantizer writes a model with >= 256 KiB of constants in the "buffer offset" layout
(bytes after the flatbuffer), which TensorFlow Lite Micro does not read: its outputs then
depend on whatever its arena held. The exporter re-serializes with `inline_buffers`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fftoolkit.export.tflite_buffers import inline_buffers, offset_buffers
from fftoolkit.export.tflite_export import export_tflite, quantize_tflite


def _aligned(model: bytes) -> bool:
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAs(model, 0)
    bufs = [m.Buffers(i) for i in range(m.BuffersLength())]
    return all(b._tab.Vector(b._tab.Offset(4)) % 16 == 0 for b in bufs if b.DataLength())


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    out = []
    for row in x:
        it.set_tensor(it.get_input_details()[0]["index"], row[None])
        it.invoke()
        out.append(it.get_tensor(it.get_output_details()[0]["index"]))
    return np.concatenate(out)


@pytest.fixture(scope="module")
def big_int8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer model with 300 KiB of int8 weights (over the quantizer's 256 KiB offset
    threshold), exported and quantized by the exporter's own functions."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1024, 300), nn.ReLU()).eval()
    out = tmp_path_factory.mktemp("big")
    export_tflite(net, [(1024,)], 1, out / "big.tflite")
    calib = np.random.default_rng(0).normal(size=(16, 1024)).astype(np.float32)
    quantize_tflite(out / "big.tflite", out / "big.int8.tflite", [calib])
    return out


def test_exporter_writes_inline_buffers_over_the_threshold(big_int8: Path) -> None:
    for name in ("big.tflite", "big.int8.tflite"):
        assert offset_buffers((big_int8 / name).read_bytes()) == 0, name
    assert _aligned((big_int8 / "big.int8.tflite").read_bytes())  # re-serialized: aligned


def _to_offset_layout(model: bytes) -> bytes:
    """The same model with every buffer of >= 1 KiB moved past the flatbuffer, as
    ai-edge-quantizer writes it (offset/size set to 1 to reserve the fields, then patched)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    obj = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    moved = {}
    for i, buf in enumerate(obj.buffers):
        if buf.data is not None and len(buf.data) >= 1024:
            moved[i] = np.asarray(buf.data, np.uint8).tobytes()
            buf.data, buf.offset, buf.size = None, 1, 1
    head = flatbuffer_utils.convert_object_to_bytearray(obj)
    out = bytearray(head) + bytearray(-len(head) % 16)
    packed = schema.Model.GetRootAs(out, 0)
    for i, data in moved.items():
        flatbuffer_utils.update_packed_buffer(packed.Buffers(i), offset=len(out), size=len(data))
        out += data + bytes(-len(data) % 16)
    return bytes(out)


def test_inline_buffers_keeps_the_model(big_int8: Path) -> None:
    original = (big_int8 / "big.int8.tflite").read_bytes()
    offset = _to_offset_layout(original)
    assert offset_buffers(offset) >= 1
    inlined = inline_buffers(offset)
    assert offset_buffers(inlined) == 0 and _aligned(inlined)
    x = np.random.default_rng(1).integers(-128, 128, (8, 1024), dtype=np.int8)
    ref = _run(original, x)
    assert np.array_equal(_run(offset, x), ref)
    assert np.array_equal(_run(inlined, x), ref)
    assert inline_buffers(original) is original  # nothing to move: untouched

"""The int8 TFLite model as the C generator sees it: tensors (shape, type, quantization,
constant data) and operators (type, inputs, outputs, options), read with `flatbuf`.

Field indices follow TFLite's schema.fbs; only what the C kernels need is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.c_engine.flatbuf import Table, root

# TensorType -> numpy dtype (the ones an int8 FF graph uses)
TENSOR_TYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}
BUILTIN_OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D",
               4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC",
               17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE",
               25: "SOFTMAX", 34: "PAD", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB",
               65: "SLICE", 107: "GATHER_ND", 114: "QUANTIZE"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
PADDINGS = {0: "SAME", 1: "VALID"}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: np.ndarray  # float32, one per tensor or one per channel; empty = not quantized
    zero_points: np.ndarray  # int64
    quantized_dimension: int
    data: np.ndarray | None  # constant contents (shaped), None for activations

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if len(self.zero_points) else 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Operator:
    index: int
    op: str  # builtin name, or "BUILTIN_<code>" / "CUSTOM:<name>" when not known here
    inputs: list[int]  # -1 = optional input absent
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Model:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]

    def by_name(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise FFTKError(f"the int8 model has no tensor named {name!r}")


def _options(op: str, opts: Table | None) -> dict[str, Any]:
    """The builtin options the kernels use (defaults as in schema.fbs when absent)."""
    if opts is None:
        return {}
    if op == "CONV_2D":
        return {"padding": PADDINGS.get(opts.scalar(0, "<b"), "?"),
                "stride_w": opts.scalar(1, "<i"), "stride_h": opts.scalar(2, "<i"),
                "activation": ACTIVATIONS.get(opts.scalar(3, "<b"), "?"),
                "dilation_w": opts.scalar(4, "<i", 1), "dilation_h": opts.scalar(5, "<i", 1)}
    if op == "DEPTHWISE_CONV_2D":
        return {"padding": PADDINGS.get(opts.scalar(0, "<b"), "?"),
                "stride_w": opts.scalar(1, "<i"), "stride_h": opts.scalar(2, "<i"),
                "depth_multiplier": opts.scalar(3, "<i"),
                "activation": ACTIVATIONS.get(opts.scalar(4, "<b"), "?"),
                "dilation_w": opts.scalar(5, "<i", 1), "dilation_h": opts.scalar(6, "<i", 1)}
    if op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        return {"padding": PADDINGS.get(opts.scalar(0, "<b"), "?"),
                "stride_w": opts.scalar(1, "<i"), "stride_h": opts.scalar(2, "<i"),
                "filter_w": opts.scalar(3, "<i"), "filter_h": opts.scalar(4, "<i"),
                "activation": ACTIVATIONS.get(opts.scalar(5, "<b"), "?")}
    if op == "FULLY_CONNECTED":
        return {"activation": ACTIVATIONS.get(opts.scalar(0, "<b"), "?"),
                "weights_format": opts.scalar(1, "<b"), "keep_num_dims": opts.scalar(2, "<b")}
    if op == "ADD":
        return {"activation": ACTIVATIONS.get(opts.scalar(0, "<b"), "?")}
    if op == "CONCATENATION":
        return {"axis": opts.scalar(0, "<i"),
                "activation": ACTIVATIONS.get(opts.scalar(1, "<b"), "?")}
    return {}


def _tensor(index: int, t: Table, buffers: list[Table], buf: bytes) -> Tensor:
    shape = tuple(int(s) for s in t.vector(0, "<i4"))
    type_code = t.scalar(1, "<b")
    dtype = TENSOR_TYPES.get(type_code, f"type{type_code}")
    q = t.table(4)
    scales = q.vector(2, "<f4") if q else np.zeros(0, np.float32)
    zps = q.vector(3, "<i8") if q else np.zeros(0, np.int64)
    qdim = q.scalar(6, "<i") if q else 0
    data = None
    b = t.scalar(2, "<I")
    if 0 < b < len(buffers):
        raw = buffers[b].vector(0, "u1")
        offset = buffers[b].scalar(1, "<Q")
        if not len(raw) and offset > 1:  # large models keep buffers after the flatbuffer
            size = buffers[b].scalar(2, "<Q")
            raw = np.frombuffer(buf[offset:offset + size], np.uint8)
        if len(raw):
            if dtype not in TENSOR_TYPES.values():
                raise FFTKError(f"constant tensor {t.string(3)!r} has unsupported type {dtype}")
            data = raw.view(np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return Tensor(index, t.string(3), shape, dtype, scales, zps, qdim, data)


def read_model(path: str | Path) -> Model:
    """Parse a .tflite file (one subgraph) into tensors and operators."""
    return parse_model(Path(path).read_bytes(), path)


def parse_model(buf: bytes, path: str | Path) -> Model:
    """Parse the bytes of a .tflite model (`path` names it in errors)."""
    try:
        model = root(buf)
        codes = []
        for c in model.tables(1):
            code = max(int(c.scalar(0, "<b")), int(c.scalar(3, "<i")))
            name = BUILTIN_OPS.get(code, f"BUILTIN_{code}")
            codes.append(f"CUSTOM:{c.string(1)}" if code == 32 else name)
        subgraphs = model.tables(2)
        if len(subgraphs) != 1:
            raise FFTKError(f"{path}: the C engine runs one-subgraph models, "
                            f"this one has {len(subgraphs)}")
        g, buffers = subgraphs[0], model.tables(4)
        tensors = [_tensor(i, t, buffers, buf) for i, t in enumerate(g.tables(0))]
        ops = []
        for i, o in enumerate(g.tables(3)):
            name = codes[o.scalar(0, "<I")]
            ops.append(Operator(i, name, [int(x) for x in o.vector(1, "<i4")],
                                [int(x) for x in o.vector(2, "<i4")], _options(name, o.table(4))))
        return Model(tensors, ops, [int(x) for x in g.vector(1, "<i4")],
                     [int(x) for x in g.vector(2, "<i4")])
    except (ValueError, IndexError) as exc:
        raise FFTKError(f"{path}: not a readable TFLite model ({exc})") from None

"""Each step (fuse.py: one operator, or a convolution with the ADD and MAX_POOL_2D fused
after it) -> one kernel call with const parameter blocks (integers only).

A lowering checks what its kernel assumes (int8, batch 1, no broadcast) and raises one-line
FFTKErrors naming the operator otherwise, so an unsupported graph fails at export, not on a
board. `CONV_LOWERINGS` and `LOWERINGS` are the op table: a new op is one function here plus
its kernel file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from fftoolkit.errors import FFTKError
from fftoolkit.runtime.c_engine.fixedpoint import (
    ADD_LEFT_SHIFT,
    INT32_MAX,
    INT32_MIN,
    activation_range,
    add_input_table,
    add_multipliers,
    per_channel_multipliers,
    per_tensor_fc_multiplier,
    quantize_multiplier,
    requantize_table,
)
from fftoolkit.runtime.c_engine.fuse import Step, conv_k_pad
from fftoolkit.runtime.c_engine.tflite_model import Model, Operator, Tensor


@dataclass
class Context:
    """What lowering collects: const arrays and parameter blocks (C source), kernel files."""

    model: Model
    placed: dict[int, str]  # activation tensor index -> C expression of its data
    decls: list[str] = field(default_factory=list)
    kernels: set[str] = field(default_factory=set)
    const_bytes: int = 0  # the const arrays' bytes (flash)
    _arrays: dict[tuple[int, str], str] = field(default_factory=dict)

    def array(self, t: Tensor, ctype: str) -> str:
        """The const C array holding a constant tensor (written once, however often used)."""
        key = (t.index, ctype)
        if key not in self._arrays:
            if t.data is None:
                raise FFTKError(f"C engine: tensor {t.name!r} must be a constant")
            name = f"k{t.index}"
            self._append(name, ctype, np.asarray(t.data).ravel())
            self._arrays[key] = name
        return self._arrays[key]

    def pointer(self, index: int) -> str:
        """C expression of an int8 tensor's data: its arena slot, the input, or a constant."""
        if index in self.placed:
            return self.placed[index]
        t = self.model.tensors[index]
        if t.data is None:
            raise FFTKError(f"C engine: tensor {t.name!r} is read before any operator writes it")
        return self.array(t, "int8_t")

    def ints(self, name: str, values: list[int] | np.ndarray, ctype: str = "int32_t") -> str:
        """A const array of values computed here (not one of the model's tensors)."""
        self._append(name, ctype, np.asarray(values, np.int64).ravel())
        return name

    def _append(self, name: str, ctype: str, values: np.ndarray) -> None:
        self.decls.append(c_array(name, ctype, values))
        self.const_bytes += max(len(values), 1) * CTYPE_BYTES[ctype]


CTYPE_BYTES = {"int8_t": 1, "int32_t": 4}


def c_array(name: str, ctype: str, values: np.ndarray) -> str:
    rows = [", ".join(str(int(v)) for v in values[i:i + 24]) for i in range(0, len(values), 24)]
    body = ",\n  ".join(rows) if rows else "0"
    return f"static const {ctype} {name}[{max(len(values), 1)}] = {{\n  {body}\n}};"


def _fail(op: Operator, why: str) -> FFTKError:
    return FFTKError(f"C engine: operator {op.index} ({op.op}) {why}")


def _int8(op: Operator, *ts: Tensor) -> None:
    for t in ts:
        if t.dtype != "int8":
            raise _fail(op, f"has {t.dtype} tensor {t.name!r}; the C engine runs int8 only")


def _nhwc(op: Operator, t: Tensor) -> tuple[int, int, int]:
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise _fail(op, f"needs a batch-1 NHWC tensor, {t.name!r} is {list(t.shape)}")
    return t.shape[1], t.shape[2], t.shape[3]


def _padding(op: Operator, padding: str, size: int, stride: int, k: int, dil: int,
             out: int) -> int:
    """Leading padding (SAME: total split, the odd one at the end), checking the out size."""
    eff = (k - 1) * dil + 1
    expect = (size + stride - 1) // stride if padding == "SAME" else (size - eff + stride) // stride
    if padding not in ("SAME", "VALID") or expect != out:
        raise _fail(op, f"has padding {padding} giving {expect}, but its output is {out}")
    if padding == "VALID":
        return 0
    return max(0, (out - 1) * stride + eff - size) // 2


def _act(op: Operator, out: Tensor) -> tuple[int, int]:
    try:
        return activation_range(op.options.get("activation", "NONE"), out.scale, out.zero_point)
    except ValueError as exc:
        raise _fail(op, str(exc)) from None


def _tensors(ctx: Context, op: Operator) -> tuple[list[Tensor | None], Tensor]:
    ins = [ctx.model.tensors[i] if i >= 0 else None for i in op.inputs]
    return ins, ctx.model.tensors[op.outputs[0]]


def _source(ctx: Context, x: Tensor, pad: Operator | None) -> tuple[Tensor, tuple[int, int]]:
    """What a convolution reads: its input, or the input of the zero-point PAD folded into it
    (fuse.py checked the fold) and that PAD's leading (rows, columns)."""
    if pad is None:
        return x, (0, 0)
    pads = _const(pad, ctx.model.tensors[pad.inputs[1]]).reshape(-1, 2)
    return ctx.model.tensors[pad.inputs[0]], (int(pads[1, 0]), int(pads[2, 0]))


def _folded_bias(op: Operator, b: Tensor | None, rows: np.ndarray, in_offset: int) -> np.ndarray:
    """The bias with TFLite's input offset folded in, bias + in_offset * the sum of each filter
    row (rows: [outputs][k], any filter offset already added), so that a kernel's plain
    sum(w * x) + this equals TFLite's sum(w * (x + in_offset)) + bias."""
    n = rows.shape[0]
    bias = np.zeros(n, np.int64) if b is None else np.asarray(b.data, np.int64).ravel()
    if len(bias) != n:
        raise _fail(op, f"has {len(bias)} biases for {n} outputs")
    folded = bias + in_offset * rows.astype(np.int64).sum(axis=1)
    if folded.min(initial=0) < INT32_MIN or folded.max(initial=0) > INT32_MAX:
        raise _fail(op, "has a bias that overflows int32 once the input offset is folded in")
    return folded


def _filter_rows(op: Operator, w: Tensor) -> np.ndarray:
    if w.data is None or len(w.shape) != 4 or w.zero_points.any():
        raise _fail(op, "needs a constant 4-d int8 filter with zero point 0")
    return np.asarray(w.data, np.int64)


def _conv_block(ctx: Context, op: Operator, p: str, src: Tensor, before: tuple[int, int],
                rows: np.ndarray, kernel: tuple[int, int]) -> str:
    """fftk_conv_params `p` of a convolution reading `src` (its input, or a folded PAD's input
    with that PAD's leading rows and columns `before`), its filter as rows [out_c][k_h * k_w *
    in_c]: zero-padded to k_pad (a multiple of 4) and interleaved by channel pairs, the input
    offset folded into the bias, so that the kernel's inner loop is a plain int8 dot product
    of two channels with two pixels. Returns its requantization fields for the step's block."""
    (x, w, b, *_), y = _tensors(ctx, op)
    assert x is not None and w is not None
    in_h, in_w, in_c = _nhwc(op, src)
    x_h, x_w, _ = _nhwc(op, x)
    out_h, out_w, out_c = _nhwc(op, y)
    (kh, kw), o = kernel, op.options
    pad_top = _padding(op, o["padding"], x_h, o["stride_h"], kh, o["dilation_h"], out_h)
    pad_left = _padding(op, o["padding"], x_w, o["stride_w"], kw, o["dilation_w"], out_w)
    mult, shift = per_channel_multipliers(x.scale, w.scales, y.scale, out_c)
    lo, hi = _act(op, y)
    k_pad = conv_k_pad(ctx.model, op)
    padded = np.zeros((out_c, k_pad), np.int64)
    padded[:, :rows.shape[1]] = rows
    # channel pairs (2i, 2i + 1; an odd last channel twice), each pair's rows interleaved 4
    # values at a time: [pair][k_pad / 4][2][4], so the kernel walks one pointer
    pairs = padded[np.minimum(np.arange(2 * (-(-out_c // 2))), out_c - 1)]
    filt = pairs.reshape(-1, 2, k_pad // 4, 4).transpose(0, 2, 1, 3)
    bias = _folded_bias(op, b, rows, -x.zero_point)
    ctx.decls.append(
        f"static const fftk_conv_params {p} = {{{in_h}, {in_w}, {in_c}, {out_h}, {out_w}, "
        f"{out_c}, {kh}, {kw}, {o['stride_h']}, {o['stride_w']}, {o['dilation_h']}, "
        f"{o['dilation_w']}, {pad_top + before[0]}, {pad_left + before[1]}, {k_pad}, "
        f"{x.zero_point}, {y.zero_point}, {lo}, {hi}, "
        f"{ctx.ints(p + '_filter', filt, 'int8_t')}, {ctx.ints(p + '_bias', bias)}, "
        f"{ctx.ints(p + '_mult', mult)}, {ctx.ints(p + '_shift', shift)}}};")
    return f"{p}_mult, {p}_shift, {y.zero_point}, {lo}, {hi}"


def conv2d(ctx: Context, op: Operator, p: str, pad: Operator | None) -> tuple[str, Tensor, str]:
    (x, w, *_), y = _tensors(ctx, op)
    assert x is not None and w is not None
    src, before = _source(ctx, x, pad)
    _int8(op, src, x, w, y)
    in_c, out_c = _nhwc(op, src)[2], _nhwc(op, y)[2]
    oc, kh, kw, ic = w.shape
    if oc != out_c or ic != in_c:
        raise _fail(op, f"filter {list(w.shape)} does not match {in_c} -> {out_c} channels")
    rows = _filter_rows(op, w).reshape(oc, -1)
    return "fftk_conv2d", src, _conv_block(ctx, op, p, src, before, rows, (kh, kw))


def depthwise_conv2d(ctx: Context, op: Operator, p: str,
                     pad: Operator | None) -> tuple[str, Tensor, str]:
    """A depthwise conv of a one-channel input (how the converter writes a conv of a 1-channel
    image) runs as a convolution with the transposed filter, the same arithmetic; others on
    the depthwise kernel."""
    (x, w, *_), y = _tensors(ctx, op)
    assert x is not None and w is not None
    src, before = _source(ctx, x, pad)
    in_c, out_c = _nhwc(op, src)[2], _nhwc(op, y)[2]
    one, kh, kw, wc = w.shape
    if in_c != 1 or one != 1 or wc != out_c:
        return depthwise_kernel(ctx, op, p, pad)
    _int8(op, src, x, w, y)
    rows = _filter_rows(op, w).reshape(kh * kw, out_c).T  # [1][kh][kw][out_c] -> [out_c][...]
    return "fftk_conv2d", src, _conv_block(ctx, op, p, src, before, rows, (kh, kw))


def depthwise_kernel(ctx: Context, op: Operator, p: str,
                     pad: Operator | None) -> tuple[str, Tensor, str]:
    """DEPTHWISE_CONV_2D on fftk_depthwise_conv2d_s8 (TFLite's reference loop)."""
    (x, w, b, *_), y = _tensors(ctx, op)
    assert x is not None and w is not None
    src, before = _source(ctx, x, pad)
    _int8(op, src, x, w, y)
    in_h, in_w, in_c = _nhwc(op, src)
    out_h, out_w, out_c = _nhwc(op, y)
    one, kh, kw, wc = w.shape
    mult_c = out_c // in_c if in_c else 0
    if one != 1 or wc != out_c or mult_c * in_c != out_c:
        raise _fail(op, f"filter {list(w.shape)} does not match {in_c} -> {out_c} channels")
    o = op.options
    pad_top = _padding(op, o["padding"], x.shape[1], o["stride_h"], kh, o["dilation_h"], out_h)
    pad_left = _padding(op, o["padding"], x.shape[2], o["stride_w"], kw, o["dilation_w"], out_w)
    mult, shift = per_channel_multipliers(x.scale, w.scales, y.scale, out_c)
    lo, hi = _act(op, y)
    bias = ctx.array(b, "int32_t") if b is not None else "0"
    ctx.decls.append(
        f"static const fftk_dwconv_params {p} = {{{in_h}, {in_w}, {in_c}, {out_h}, {out_w}, "
        f"{out_c}, {mult_c}, {kh}, {kw}, {o['stride_h']}, {o['stride_w']}, "
        f"{o['dilation_h']}, {o['dilation_w']}, {pad_top + before[0]}, "
        f"{pad_left + before[1]}, {-x.zero_point}, {y.zero_point}, {lo}, {hi}, "
        f"{ctx.array(w, 'int8_t')}, {bias}, {ctx.ints(p + '_mult', mult)}, "
        f"{ctx.ints(p + '_shift', shift)}}};")
    return "fftk_depthwise_conv2d", src, f"{p}_mult, {p}_shift, {y.zero_point}, {lo}, {hi}"


def _pool_params(ctx: Context, op: Operator, p: str) -> tuple[Tensor, Tensor]:
    (x, *_), y = _tensors(ctx, op)
    assert x is not None
    _int8(op, x, y)
    in_h, in_w, c = _nhwc(op, x)
    out_h, out_w, _ = _nhwc(op, y)
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise _fail(op, "rescales its input; the C engine's max pool does not")
    o = op.options
    pad_top = _padding(op, o["padding"], in_h, o["stride_h"], o["filter_h"], 1, out_h)
    pad_left = _padding(op, o["padding"], in_w, o["stride_w"], o["filter_w"], 1, out_w)
    lo, hi = _act(op, y)
    ctx.decls.append(
        f"static const fftk_pool_params {p} = {{{in_h}, {in_w}, {c}, {out_h}, {out_w}, "
        f"{o['filter_h']}, {o['filter_w']}, {o['stride_h']}, {o['stride_w']}, {pad_top}, "
        f"{pad_left}, {lo}, {hi}}};")
    ctx.kernels.add("fftk_max_pool_s8")
    return x, y


def max_pool(ctx: Context, op: Operator, p: str) -> str:
    x, y = _pool_params(ctx, op, p)
    return f"fftk_max_pool_s8(&{p}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def fully_connected(ctx: Context, op: Operator, p: str) -> str:
    (x, w, *rest), y = _tensors(ctx, op)
    b = rest[0] if rest else None
    assert x is not None and w is not None
    _int8(op, x, w, y)
    if op.options.get("weights_format", 0) != 0:
        raise _fail(op, "has shuffled weights; the C engine reads the default layout")
    if w.data is None:
        raise _fail(op, "needs constant weights")
    out_depth, in_depth = w.shape
    if x.size % in_depth or y.size != x.size // in_depth * out_depth:
        raise _fail(op, f"input {list(x.shape)} does not fit weights {list(w.shape)}")
    if len(w.scales) > 1:
        mult, shift = per_channel_multipliers(x.scale, w.scales, y.scale, out_depth)
    else:
        m, s = per_tensor_fc_multiplier(x.scale, w.scale, y.scale)
        mult, shift = [m] * out_depth, [s] * out_depth
    lo, hi = _act(op, y)
    rows = np.asarray(w.data, np.int64) - w.zero_point
    bias = _folded_bias(op, b, rows, -x.zero_point)
    ctx.decls.append(
        f"static const fftk_fc_params {p} = {{{x.size // in_depth}, {in_depth}, {out_depth}, "
        f"{-w.zero_point}, {y.zero_point}, {lo}, {hi}, {ctx.array(w, 'int8_t')}, "
        f"{ctx.ints(p + '_bias', bias)}, {ctx.ints(p + '_mult', mult)}, "
        f"{ctx.ints(p + '_shift', shift)}}};")
    ctx.kernels.add("fftk_fully_connected_s8")
    return f"fftk_fully_connected_s8(&{p}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def _add_params(ctx: Context, op: Operator, p: str, a: Tensor, b: Tensor, y: Tensor) -> None:
    """ADD's block with `a` as in1 (the two inputs' roles are symmetric, so a fused conv's
    output can be in1 whichever input it was): each input's rescaling as a table of its 256
    values, the output's multiplier."""
    _int8(op, a, b, y)
    if a.shape != b.shape or a.shape != y.shape:
        raise _fail(op, f"broadcasts {list(a.shape)} + {list(b.shape)}; the C engine does not")
    m1, m2, (mo, so) = add_multipliers(a.scale, b.scale, y.scale)
    if so > 0:
        raise _fail(op, "rescales its sum by a factor of 1 or more (its output scale is too "
                        "small), which TFLite's int8 ADD does not allow")
    t1 = add_input_table(a.zero_point, ADD_LEFT_SHIFT, *m1)
    t2 = add_input_table(b.zero_point, ADD_LEFT_SHIFT, *m2)
    lo, hi = _act(op, y)
    ctx.decls.append(
        f"static const fftk_add_params {p} = {{{y.size}, {ctx.ints(p + '_in1', t1)}, "
        f"{ctx.ints(p + '_in2', t2)}, {y.zero_point}, {mo}, {-so}, {lo}, {hi}}};")
    ctx.kernels.add("fftk_add_s8")


def add(ctx: Context, op: Operator, p: str) -> str:
    (a, b), y = _tensors(ctx, op)
    assert a is not None and b is not None
    _add_params(ctx, op, p, a, b, y)
    return (f"fftk_add_s8(&{p}, {ctx.pointer(a.index)}, {ctx.pointer(b.index)}, "
            f"{ctx.pointer(y.index)});")


def requantize(ctx: Context, op: Operator, p: str) -> str:
    (x, *_), y = _tensors(ctx, op)
    assert x is not None
    _int8(op, x, y)
    m, s = quantize_multiplier(float(x.scale) / float(y.scale))
    table = requantize_table(x.zero_point, y.zero_point, m, s)
    ctx.decls.append(f"static const fftk_requant_params {p} = {{{y.size}, "
                     f"{ctx.ints(p + '_table', table, 'int8_t')}}};")
    ctx.kernels.add("fftk_requantize_s8")
    return f"fftk_requantize_s8(&{p}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def _same_quant(op: Operator, x: Tensor, y: Tensor) -> None:
    _int8(op, x, y)
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise _fail(op, "changes the quantization; the C engine expects it unchanged")


def _dims4(op: Operator, shape: tuple[int, ...]) -> list[int]:
    if len(shape) > 4:
        raise _fail(op, f"has {len(shape)} dims; the C engine handles up to 4")
    return [1] * (4 - len(shape)) + list(shape)


def _const(op: Operator, t: Tensor | None) -> np.ndarray:
    if t is None or t.data is None:
        raise _fail(op, "needs a constant second input")
    return np.asarray(t.data, np.int64)


def _braced(values: Iterable[int]) -> str:
    """A C brace initialiser of integers: {1, 2, 3}."""
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def transpose(ctx: Context, op: Operator, p: str) -> str:
    (x, perm_t), y = _tensors(ctx, op)
    assert x is not None
    _same_quant(op, x, y)
    lead = 4 - len(x.shape)
    perm = list(range(lead)) + [int(d) + lead for d in _const(op, perm_t)]
    shape = _dims4(op, x.shape)
    ctx.decls.append(f"static const fftk_transpose_params {p} = "
                     f"{{{_braced(shape)}, {_braced(perm)}}};")
    ctx.kernels.add("fftk_transpose_s8")
    return f"fftk_transpose_s8(&{p}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def pad(ctx: Context, op: Operator, p: str) -> str:
    (x, pads_t, *rest), y = _tensors(ctx, op)
    assert x is not None
    _same_quant(op, x, y)
    pads = _const(op, pads_t).reshape(-1, 2)
    lead = [[0, 0]] * (4 - len(pads))
    pads4 = np.asarray(lead + pads.tolist(), np.int64)
    value = y.zero_point
    if rest and rest[0] is not None:
        value = int(_const(op, rest[0]).ravel()[0])
    shape = _dims4(op, x.shape)
    ctx.decls.append(f"static const fftk_pad_params {p} = "
                     f"{{{_braced(shape)}, {_braced(pads4[:, 0])}, {_braced(pads4[:, 1])}, "
                     f"{value}}};")
    ctx.kernels.add("fftk_pad_s8")
    return f"fftk_pad_s8(&{p}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def concatenation(ctx: Context, op: Operator, p: str) -> str:
    ins, y = _tensors(ctx, op)
    if not 1 <= len(ins) <= 8:
        raise _fail(op, f"joins {len(ins)} inputs; the C engine joins 1 to 8")
    axis = op.options.get("axis", 0) % len(y.shape)
    lo, hi = _act(op, y)
    if (lo, hi) != (-128, 127):
        raise _fail(op, "has a fused activation; the C engine's concatenation has none")
    inner = []
    for x in ins:
        assert x is not None
        _same_quant(op, x, y)
        inner.append(int(np.prod(x.shape[axis:], dtype=np.int64)))
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    ptrs = ", ".join(ctx.pointer(x.index) for x in ins if x is not None)
    ctx.decls.append(f"static const fftk_concat_params {p} = "
                     f"{{{outer}, {len(ins)}, {_braced(inner)}}};")
    ctx.kernels.add("fftk_concat_s8")
    return (f"{{ const int8_t *ins[{len(ins)}]; {_fill('ins', ptrs)} "
            f"fftk_concat_s8(&{p}, ins, {ctx.pointer(y.index)}); }}")


def _fill(name: str, ptrs: str) -> str:
    """C89/C99-portable array fill (no compound literals of non-constant pointers)."""
    return " ".join(f"{name}[{i}] = {v.strip()};" for i, v in enumerate(ptrs.split(",")))


def gather_nd(ctx: Context, op: Operator, p: str) -> str:
    (x, idx), y = _tensors(ctx, op)
    assert x is not None
    _same_quant(op, x, y)
    indices = _const(op, idx)
    depth = int(indices.shape[-1])
    n = int(indices.size // depth)
    if depth > 4 or depth > len(x.shape):
        raise _fail(op, f"indexes {depth} dims of {list(x.shape)}")
    dims = list(x.shape[:depth])
    if (indices < 0).any() or (indices >= np.asarray(dims)).any():
        raise _fail(op, "has an index outside its input")
    slice_ = int(np.prod(x.shape[depth:], dtype=np.int64))
    arr = ctx.array(idx, "int32_t")
    ctx.decls.append(f"static const fftk_gather_nd_params {p} = "
                     f"{{{n}, {depth}, {slice_}, {arr}, {_braced(dims + [1] * (4 - depth))}}};")
    ctx.kernels.add("fftk_gather_nd_s8")
    return f"fftk_gather_nd_s8(&{p}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def slice_box(ctx: Context, op: Operator, p: str) -> str:
    """SLICE: the box begin .. begin + size of the input (a size of -1 runs to the end). The
    converter can emit it in place of a gather, depending on the weights (FF_tiny, 60 epochs)."""
    (x, begin_t, size_t), y = _tensors(ctx, op)
    assert x is not None
    _same_quant(op, x, y)
    shape = _dims4(op, x.shape)
    lead = 4 - len(x.shape)
    begin = [int(b) for b in _const(op, begin_t).ravel()]
    size = [int(n) for n in _const(op, size_t).ravel()]
    if not len(begin) == len(size) == len(x.shape):
        raise _fail(op, f"has a begin of {len(begin)} and a size of {len(size)} dims for "
                        f"{len(x.shape)}")
    begin, size = [0] * lead + begin, [1] * lead + size
    size = [dim - b if n == -1 else n for n, b, dim in zip(size, begin, shape, strict=True)]
    if any(b < 0 or n < 0 or b + n > dim for b, n, dim in zip(begin, size, shape, strict=True)):
        raise _fail(op, f"takes a box outside its input {list(x.shape)}")
    if size != _dims4(op, y.shape):
        raise _fail(op, f"outputs {list(y.shape)}, not its box {size[lead:]}")
    ctx.decls.append(f"static const fftk_slice_params {p} = "
                     f"{{{_braced(shape)}, {_braced(begin)}, {_braced(size)}}};")
    ctx.kernels.add("fftk_slice_s8")
    return f"fftk_slice_s8(&{p}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def reshape(ctx: Context, op: Operator, p: str) -> str:
    (x, *_), y = _tensors(ctx, op)
    assert x is not None
    _same_quant(op, x, y)
    ctx.kernels.add("fftk_copy_s8")
    return f"fftk_copy_s8({y.size}, {ctx.pointer(x.index)}, {ctx.pointer(y.index)});"


def _conv_add_pool(ctx: Context, step: Step, p: str, kernel: str, src: Tensor, requant: str,
                   scratch: str) -> str:
    """The step's call: the conv's block `p`, the ADD's and the pool's blocks (NULL when
    absent), one fftk_conv_add_pool_params tying them together."""
    conv_out = ctx.model.tensors[step.op.outputs[0]]
    h, w, c = _nhwc(step.op, conv_out)
    map_, add_p, pool_p = "0", "0", "0"
    if step.add is not None:
        other = [ctx.model.tensors[i] for i in step.add.inputs if i != conv_out.index][0]
        add_p = f"op{step.add.index}"
        _add_params(ctx, step.add, add_p, conv_out, other,
                    ctx.model.tensors[step.add.outputs[0]])
        map_, add_p = ctx.array(other, "int8_t"), "&" + add_p
    if step.pool is not None:
        pool_p = f"op{step.pool.index}"
        _pool_params(ctx, step.pool, pool_p)
        pool_p = "&" + pool_p
    ctx.decls.append(f"static const fftk_conv_add_pool_params {p}_step = {{{kernel}_accs_s8, "
                     f"&{p}, {h}, {w}, {c}, {requant}, {map_}, {add_p}, {pool_p}, "
                     f"{int(step.pool_on_accs(ctx.model))}, {step.rows_scratch(ctx.model)}}};")
    ctx.kernels.update({kernel + "_s8", "fftk_conv_add_pool_s8"})
    return (f"fftk_conv_add_pool_s8(&{p}_step, {ctx.pointer(src.index)}, "
            f"{ctx.pointer(step.writes[0])}, {scratch});")


# TFLite builtin -> its lowering (the C engine's op table); convolutions declare their block
# and return their kernel (fftk_<name>_s8 with fftk_<name>_accs_s8), the tensor they read and
# their requantization fields
CONV_LOWERINGS: dict[str, Callable[[Context, Operator, str, Operator | None],
                                   tuple[str, Tensor, str]]] = {
    "CONV_2D": conv2d, "DEPTHWISE_CONV_2D": depthwise_conv2d,
}
LOWERINGS: dict[str, Callable[[Context, Operator, str], str]] = {
    "MAX_POOL_2D": max_pool, "FULLY_CONNECTED": fully_connected,
    "ADD": add, "QUANTIZE": requantize, "TRANSPOSE": transpose, "PAD": pad,
    "CONCATENATION": concatenation, "GATHER_ND": gather_nd, "RESHAPE": reshape,
    "SLICE": slice_box,
}


def lower(ctx: Context, step: Step, scratch: str = "0") -> str:
    """The C statement running `step` (its parameter blocks go to ctx.decls); `scratch`: the
    C expression of the step's scratch (Step.scratch bytes)."""
    op, p = step.op, f"op{step.op.index}"
    conv = CONV_LOWERINGS.get(op.op)
    if conv is not None:
        kernel, src, requant = conv(ctx, op, p, step.pad)
        return _conv_add_pool(ctx, step, p, kernel, src, requant, scratch)
    fn = LOWERINGS.get(op.op)
    if fn is None:
        supported = sorted([*CONV_LOWERINGS, *LOWERINGS])
        raise FFTKError(f"C engine: operator {op.index} is {op.op}, which the C engine does not "
                        f"support (it runs {', '.join(supported)})")
    return fn(ctx, op, p)

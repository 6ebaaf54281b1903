"""Which operators run as one kernel call (a step), so that large maps never exist whole.

A convolution whose output feeds only an ADD of a constant map (FF blocks fold their border
maps into one, with fused ReLU) and whose result feeds only a MAX_POOL_2D runs as one fused
call that computes the conv rows of one pool window at a time: the full-resolution map needs
a few rows of scratch instead of two whole maps. A PAD with the zero point feeding only a
convolution becomes that convolution's own padding (padded taps contribute (zp - zp) * w = 0
either way). Every other operator is a step of its own. Tensors that are graph outputs or
read after the operators (`hold`) are never fused away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fftoolkit.runtime.c_engine.fixedpoint import add_multipliers, per_channel_multipliers
from fftoolkit.runtime.c_engine.tflite_model import Model, Operator

CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
POOL_TAPS = 16  # FFTK_POOL_TAPS of fftk_kernels.h


@dataclass(frozen=True)
class Step:
    op: Operator  # the operator that names the call (the convolution of a fused chain)
    pad: Operator | None = None  # a zero-point PAD folded into the convolution's padding
    add: Operator | None = None  # ADD of a constant map fused after the convolution
    pool: Operator | None = None  # MAX_POOL_2D fused after that

    @property
    def ops(self) -> list[Operator]:
        return [o for o in (self.pad, self.op, self.add, self.pool) if o is not None]

    @property
    def conv(self) -> bool:
        """Runs as fftk_conv_add_pool_s8 (every convolution does, alone or fused)."""
        return self.op.op in CONVS

    @property
    def writes(self) -> list[int]:
        return self.ops[-1].outputs

    def reads(self, model: Model) -> list[int]:
        """The activation tensors it reads (not constants, not its own fused intermediates)."""
        inner = {t for o in self.ops for t in o.outputs}
        return [t for o in self.ops for t in o.inputs
                if t >= 0 and t not in inner and model.tensors[t].data is None]

    def pool_taps(self) -> int:
        return int(self.pool.options["filter_h"]) * int(self.pool.options["filter_w"]) \
            if self.pool is not None else 0

    def pool_on_accs(self, model: Model) -> bool:
        """Whether the pool runs on the conv's accumulators (fftk_conv_add_pool_s8's
        pool_on_accs): its windows tile the conv's map (stride = window, no padding, at most
        POOL_TAPS taps) and every requantization is monotone (no left shift: the conv's and the
        ADD's output multipliers are below 1), so max and requantization commute exactly."""
        if self.pool is None:
            return False
        o = self.pool.options
        _, h, w, _ = model.tensors[self.op.outputs[0]].shape
        _, out_h, out_w, _ = model.tensors[self.pool.outputs[0]].shape
        if not (o["filter_h"] == o["stride_h"] and o["filter_w"] == o["stride_w"]
                and self.pool_taps() <= POOL_TAPS and out_h * o["filter_h"] <= h
                and out_w * o["filter_w"] <= w
                and (o["padding"] == "VALID" or (h % o["filter_h"] == 0
                                                 and w % o["filter_w"] == 0))):
            return False
        x, wt, y = (model.tensors[self.op.inputs[0]], model.tensors[self.op.inputs[1]],
                    model.tensors[self.op.outputs[0]])
        _, shifts = per_channel_multipliers(x.scale, wt.scales, y.scale, y.shape[-1])
        if self.add is not None:
            a, b = (model.tensors[i] for i in self.add.inputs)
            shifts.append(add_multipliers(a.scale, b.scale,
                                          model.tensors[self.add.outputs[0]].scale)[2][1])
        return max(shifts) <= 0

    def rows_scratch(self, model: Model) -> int:
        """Bytes of conv rows a pool window needs (none without a pool, or with the pool on
        accumulators), rounded up to 4 so that what follows is aligned."""
        if self.pool is None or self.pool_on_accs(model):
            return 0
        _, h, w, c = model.tensors[self.op.outputs[0]].shape
        return -(-min(int(self.pool.options["filter_h"]), h) * w * c // 4) * 4

    def scratch(self, model: Model) -> int:
        """Bytes of arena a convolution step needs besides its input and output (the layout
        fftk_conv_add_pool_s8 assumes): conv rows, int32 accumulators (two pixels; with a
        pool, a window's taps rounded up to even, plus one slot for int8 values), then the
        conv's own scratch (FFTK_CONV_SCRATCH of fftk_kernels.h: one receptive field as int8,
        two widened to int16)."""
        if not self.conv:
            return 0
        c = model.tensors[self.op.outputs[0]].shape[-1]
        taps = self.pool_taps()
        accs = max(2, taps + taps % 2) + 1 if self.pool is not None else 2
        return self.rows_scratch(model) + 4 * accs * c + 5 * conv_k_pad(model, self.op)

    def label(self) -> str:
        return " + ".join(f"op {o.index} {o.op}" for o in self.ops)


def conv_k_pad(model: Model, op: Operator) -> int:
    """The length of a convolution's filter rows as the C kernel holds them (k_h * k_w * in_c,
    rounded up to a multiple of 4); 0 for a depthwise conv of several channels (its kernel
    gathers nothing)."""
    _, kh, kw, c = model.tensors[op.inputs[1]].shape
    if op.op == "DEPTHWISE_CONV_2D":
        if model.tensors[op.inputs[0]].shape[-1] != 1:
            return 0
        c = 1
    return -(-kh * kw * c // 4) * 4


def _users(model: Model) -> dict[int, list[Operator]]:
    users: dict[int, list[Operator]] = {}
    for op in model.operators:
        for t in op.inputs:
            if t >= 0:
                users.setdefault(t, []).append(op)
    return users


def _sole_user(model: Model, users: dict[int, list[Operator]], hold: set[int],
               t: int) -> Operator | None:
    """The one operator reading `t`, if `t` is needed nowhere else (so it can stay unwritten)."""
    found = users.get(t, [])
    if t in hold or t in model.outputs or len(found) != 1:
        return None
    return found[0]


def _folds_pad(model: Model, pad: Operator) -> bool:
    """An int8 NHWC PAD of H and W only, with its input's zero point (what a conv's own
    padding holds)."""
    x, y = model.tensors[pad.inputs[0]], model.tensors[pad.outputs[0]]
    pads_t = model.tensors[pad.inputs[1]] if len(pad.inputs) > 1 else None
    if (pads_t is None or pads_t.data is None or len(x.shape) != 4 or x.dtype != "int8"
            or y.dtype != "int8" or not np.array_equal(x.scales, y.scales)
            or not np.array_equal(x.zero_points, y.zero_points)):
        return False
    pads = np.asarray(pads_t.data, np.int64).reshape(-1, 2)
    value = y.zero_point
    if len(pad.inputs) > 2 and pad.inputs[2] >= 0:
        v = model.tensors[pad.inputs[2]].data
        if v is None:
            return False
        value = int(np.asarray(v).ravel()[0])
    return (pads.shape == (4, 2) and (pads >= 0).all() and not pads[0].any()
            and not pads[3].any() and value == y.zero_point)


def _adds_constant_map(model: Model, add: Operator, t: int) -> bool:
    """ADD(t, constant) or ADD(constant, t) with all three shapes equal, int8."""
    ins = [model.tensors[i] for i in add.inputs]
    y = model.tensors[add.outputs[0]]
    other = [x for x in ins if x.index != t]
    return (len(ins) == 2 and len(other) == 1 and other[0].data is not None
            and all(x.shape == y.shape and x.dtype == "int8" for x in ins + [y]))


def plan_steps(model: Model, hold: set[int]) -> list[Step]:
    """The graph as steps in execution order (each fused chain runs where its conv was)."""
    users = _users(model)
    pads: dict[int, Operator] = {}
    for op in model.operators:
        if op.op == "PAD" and _folds_pad(model, op):
            conv = _sole_user(model, users, hold, op.outputs[0])
            if conv is not None and conv.op in CONVS and conv.inputs[0] == op.outputs[0]:
                pads[conv.index] = op
    taken = {p.index for p in pads.values()}
    steps = []
    for op in model.operators:
        if op.index in taken:
            continue
        if op.op not in CONVS:
            steps.append(Step(op))
            continue
        last = op.outputs[0]
        add = _sole_user(model, users, hold, last)
        if add is not None and add.op == "ADD" and _adds_constant_map(model, add, last):
            last = add.outputs[0]
        else:
            add = None
        pool = _sole_user(model, users, hold, last)
        if pool is not None and (pool.op != "MAX_POOL_2D" or pool.inputs[0] != last):
            pool = None
        step = Step(op, pads.get(op.index), add, pool)
        taken.update(o.index for o in step.ops)
        steps.append(step)
    return steps

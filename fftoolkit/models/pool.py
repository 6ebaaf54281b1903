"""ReLU -> MaxPool(2) whose backward keeps one byte per output instead of 28.

Stock autograd keeps, for `max_pool2d(relu(z), 2)`, the ReLU output in float32 (4 values per
pooled output, 16 bytes) and int64 argmax indices (8 bytes per output) alive until backward.
Block 0 of a 32x32 network holds most of FF training's activation memory this way. Max and
ReLU commute, so the gradient only needs, per output, which of the 4 window cells won (2 bits)
and whether the winner was positive (1 bit): one uint8. Forward and gradients are the stock
ops' exactly (ties between equal window values aside, where any winner is a valid subgradient).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_POSITIVE = 4  # bit 2 of the code: the window's max was > 0 (ReLU passes its gradient)


class _ReLUMaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        best, index = F.max_pool2d(z, 2, return_indices=True)
        width = z.shape[-1]
        row, col = index // width, index % width
        code = ((row % 2) * 2 + col % 2).to(torch.uint8)
        code |= (best > 0).to(torch.uint8) * _POSITIVE
        ctx.save_for_backward(code)
        ctx.in_shape = z.shape
        ctx.channels_last = z.dim() == 4 and z.is_contiguous(memory_format=torch.channels_last)
        return best.clamp_min_(0)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (code,) = ctx.saved_tensors
        fmt = torch.channels_last if ctx.channels_last else torch.contiguous_format
        grad_in = grad_out.new_zeros(ctx.in_shape).contiguous(memory_format=fmt)
        h, w = code.shape[-2] * 2, code.shape[-1] * 2
        for cell in range(4):
            i, j = divmod(cell, 2)
            grad_in[..., i:h:2, j:w:2] = grad_out * (code == (cell | _POSITIVE))
        return grad_in


def relu_max_pool2x2(z: torch.Tensor) -> torch.Tensor:
    """`max_pool2d(relu(z), 2)` (floor mode) that saves one uint8 per output for backward."""
    return _ReLUMaxPool2x2.apply(z)

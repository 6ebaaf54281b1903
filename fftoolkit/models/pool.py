"""ReLU -> MaxPool(2) whose backward keeps one byte per output instead of 24.

Stock autograd keeps, for `max_pool2d(relu(z), 2)`, the ReLU output in float32 (4 values per
pooled output, 16 bytes) and int64 argmax indices (8 bytes per output) alive until backward.
Block 0 of a 32x32 network holds most of FF training's activation memory this way. Max and
ReLU commute, so the gradient only needs, per output, which of the 4 window cells won (2 bits)
and whether the winner was positive (1 bit): one uint8. Forward and gradients are the stock
ops' exactly, ties included (the first maximum in the window wins, as in max_pool2d).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_POSITIVE = 4  # bit 2 of the code: the window's max was > 0 (ReLU passes its gradient)


class _ReLUMaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        best, index = F.max_pool2d(z, 2, return_indices=True)  # int64, freed on return
        width = z.shape[-1]
        if width & (width - 1) == 0:  # a power of two (the usual case): shift, do not divide
            row_bit = (index >> (width.bit_length() - 1)) & 1
        else:
            row_bit = torch.div(index, width, rounding_mode="floor") & 1
        col_bit = index & 1 if width % 2 == 0 else (index % width) & 1
        code = (row_bit * 2 + col_bit).to(torch.uint8)
        code |= (best > 0).to(torch.uint8) * _POSITIVE
        ctx.save_for_backward(code)
        ctx.in_hw = z.shape[-2:]
        return best.clamp_min_(0)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (code,) = ctx.saved_tensors
        (h, w), (h2, w2) = ctx.in_hw, code.shape[-2:]
        # Rebuild the int64 flat indices max_pool2d would have kept, for this backward only.
        corner = (2 * w * torch.arange(h2).view(-1, 1) + 2 * torch.arange(w2)).to(code.device)
        offset = torch.tensor([0, 1, w, w + 1], device=code.device)[(code & 3).long()]
        masked = grad_out * (code >= _POSITIVE)
        return F.max_unpool2d(masked, corner + offset, 2, output_size=(h, w))


def relu_max_pool2x2(z: torch.Tensor) -> torch.Tensor:
    """`max_pool2d(relu(z), 2)` (floor mode) that saves one uint8 per output for backward."""
    return _ReLUMaxPool2x2.apply(z)

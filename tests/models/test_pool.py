"""The compact ReLU -> MaxPool: the stock ops' values and gradients, one byte kept per output."""

import pytest
import torch
import torch.nn.functional as F

from fftoolkit.models import create_model
from fftoolkit.models.pool import relu_max_pool2x2


def saved_bytes(fn, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for backward of fn(x)."""
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t is not x:
            kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(kept.values())


@pytest.mark.parametrize(("shape", "channels_last"), [
    ((4, 6, 8, 8), False), ((4, 6, 8, 8), True), ((3, 5, 7, 9), False), ((3, 5, 7, 9), True),
    ((2, 3, 6), False),
])
def test_values_and_gradients_equal_the_stock_ops(shape, channels_last):
    torch.manual_seed(0)
    base = torch.randn(shape, dtype=torch.float64)
    if channels_last:
        base = base.contiguous(memory_format=torch.channels_last)
    ours, stock = base.clone().requires_grad_(), base.clone().requires_grad_()
    y_ours, y_stock = relu_max_pool2x2(ours), F.max_pool2d(torch.relu(stock), 2)
    assert torch.equal(y_ours, y_stock)
    g = torch.randn_like(y_stock)
    (y_ours * g).sum().backward()
    (y_stock * g).sum().backward()
    assert torch.equal(ours.grad, stock.grad)
    if channels_last:
        assert ours.grad.is_contiguous(memory_format=torch.channels_last)


def test_ties_send_the_gradient_to_the_first_maximum_like_the_stock_op():
    torch.manual_seed(1)
    base = torch.randint(-2, 3, (2, 4, 6, 6)).double()  # many equal values in each window
    ours, stock = base.clone().requires_grad_(), base.clone().requires_grad_()
    g = torch.randn(2, 4, 3, 3, dtype=torch.float64)
    (relu_max_pool2x2(ours) * g).sum().backward()
    (F.max_pool2d(torch.relu(stock), 2) * g).sum().backward()
    assert torch.equal(ours.grad, stock.grad)


def test_keeps_one_byte_per_output():
    z = torch.randn(8, 16, 32, 32, requires_grad=True)
    ours = saved_bytes(relu_max_pool2x2, z)
    stock = saved_bytes(lambda t: F.max_pool2d(torch.relu(t), 2, return_indices=True)[0], z)
    assert ours == 8 * 16 * 16 * 16  # one uint8 per output
    assert stock >= 6 * ours * 4  # float32 ReLU output (16 B/output) + int64 indices (8 B)


def test_network_trains_identically_with_and_without_the_compact_pool():
    torch.manual_seed(0)
    compact = create_model("ff_tiny")
    stock = create_model("ff_tiny")
    stock.load_state_dict(compact.state_dict())
    for block in stock.blocks:
        block.compact_pool = False
    x = torch.randn(4, 3, 32, 32)
    outs = [net.forward_features(x) for net in (compact, stock)]
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)
    sum(f.square().mean() for f in outs[0]).backward()
    sum(f.square().mean() for f in outs[1]).backward()
    for p, q in zip(compact.parameters(), stock.parameters(), strict=True):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7)

import math

import pytest
import torch

from fftoolkit.errors import FFTKError
from fftoolkit.ff import channel_goodness, channelwise_loss, ff_loss, goodness, split_goodness
from fftoolkit.ff.family import family_of
from fftoolkit.ff.losses import channelwise_symba_loss, hardest_wrong, symba_loss
from fftoolkit.ff.objectives import make_objective
from fftoolkit.models import create_model


def test_goodness_mean_and_sum_of_squares():
    h = torch.tensor([[1.0, 2.0, 2.0], [0.0, 3.0, 0.0]])
    assert torch.allclose(goodness(h, "sum"), torch.tensor([9.0, 9.0]))
    assert torch.allclose(goodness(h, "mean"), torch.tensor([3.0, 3.0]))


def test_ff_loss_matches_eq1_by_hand():
    g_pos, g_neg, theta = torch.tensor([3.0, 1.0]), torch.tensor([0.5, 2.5]), 2.0
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    expected = ((sp(2 - 3) + sp(0.5 - 2)) + (sp(2 - 1) + sp(2.5 - 2))) / 2
    assert math.isclose(float(ff_loss(g_pos, g_neg, theta)), expected, rel_tol=1e-6)


def test_channel_goodness_groups_contiguous_channels():
    # 4 channels, 2 groups of 2 channels; group j's goodness = mean of squares of its channels
    y = torch.zeros(1, 4, 2, 2)
    y[0, 0] = 1.0  # group 0: channel 0 all ones, channel 1 zeros -> mean 0.5
    y[0, 3] = 2.0  # group 1: channel 2 zeros, channel 3 all twos -> mean 2.0
    assert torch.allclose(channel_goodness(y, 2), torch.tensor([[0.5, 2.0]]))


def test_channelwise_loss_is_eq3_cross_entropy_over_groups():
    g = torch.tensor([[1.0, 2.0, 0.5]])
    label = torch.tensor([1])
    expected = -math.log(math.exp(2.0) / (math.exp(1.0) + math.exp(2.0) + math.exp(0.5)))
    assert math.isclose(float(channelwise_loss(g, label)), expected, rel_tol=1e-6)


def test_split_goodness_positive_and_negative_parts():
    g = torch.tensor([[1.0, 2.0, 0.5]])
    pos, neg = split_goodness(g, torch.tensor([1]))
    assert float(pos) == 2.0 and float(neg) == 1.5


def test_symba_loss_matches_its_formula_by_hand():
    g_pos, g_neg = torch.tensor([3.0, 1.0]), torch.tensor([2.5, 1.5])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    expected = (sp(-4 * 0.5) + sp(-4 * -0.5)) / 2
    assert math.isclose(float(symba_loss(g_pos, g_neg)), expected, rel_tol=1e-6)


def test_channelwise_symba_compares_the_true_group_with_the_hardest_wrong_one():
    g = torch.tensor([[1.0, 2.0, 0.5], [3.0, 0.0, 2.5]], requires_grad=True)
    labels = torch.tensor([1, 2])
    pos, neg = hardest_wrong(g.detach(), labels)
    assert pos.tolist() == [2.0, 2.5] and neg.tolist() == [1.0, 3.0]
    loss = channelwise_symba_loss(g, labels)
    value = float(loss.detach())
    assert math.isclose(value, float(symba_loss(pos, neg)), rel_tol=1e-6)
    assert not math.isclose(value, float(channelwise_loss(g.detach(), labels)), rel_tol=1e-3)
    loss.backward()
    # one positive and one negative term of equal weight; the other wrong groups get nothing
    assert g.grad[0, 1] == -g.grad[0, 0] and g.grad[0, 1] < 0 and g.grad[0, 2] == 0
    assert g.grad[1, 2] == -g.grad[1, 0] and g.grad[1, 2] < 0 and g.grad[1, 1] == 0


def test_each_family_names_its_losses_and_refuses_the_others():
    improved, original = family_of("improved"), family_of("original")
    assert improved.loss_name(None) == "cwc" and improved.loss_name("symba") == "symba"
    assert improved.losses["cwc"] is channelwise_loss
    assert original.loss_name(None) == "ff" and original.losses["ff"] is ff_loss
    with pytest.raises(FFTKError, match=r"^--loss must be one of ff for the original FF, "
                                        r"got 'symba'$"):
        original.loss_name("symba")
    with pytest.raises(FFTKError, match="one of cwc, symba for the improved FF, got 'hinge'"):
        improved.loss_name("hinge")


def test_the_objective_minimises_the_loss_named():
    torch.manual_seed(0)
    net = create_model("ff_tiny_mnist")
    out, labels = torch.rand(6, 50, 7, 7), torch.arange(6)
    g = channel_goodness(out, 10)
    cwc, symba = make_objective(net), make_objective(net, "symba")
    assert torch.equal(cwc.block_loss(out, labels, 0), channelwise_loss(g, labels))
    assert torch.equal(symba.block_loss(out, labels, 0), channelwise_symba_loss(g, labels))

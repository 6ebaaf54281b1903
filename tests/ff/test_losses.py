import math

import torch

from fftoolkit.ff import channel_goodness, channelwise_loss, ff_loss, goodness, split_goodness


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

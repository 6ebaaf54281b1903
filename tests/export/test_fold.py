"""BatchNorm folding is exact, including at the zero-padded borders, with pixel-centred input
and the internal blocks' scales equalised."""

import pytest
import torch

from fftoolkit.export.fold import bn_affine, fold_block, pixel_normalization
from fftoolkit.export.graphs import build_graphs
from fftoolkit.ff import make_predictor
from fftoolkit.ff.predict import to_float
from fftoolkit.models import create_model

NORM = {"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}


@pytest.fixture(scope="module")
def net():
    """FF_tiny with BN statistics and affines far from identity, so every fold term matters."""
    torch.manual_seed(0)
    net = create_model("ff_tiny")
    for m in net.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.3, 3)
            m.weight.data.uniform_(-1.5, 1.5)  # negative scales too
            m.bias.data.uniform_(-1, 1)
    return net.eval()


@pytest.fixture(scope="module")
def images():
    return torch.randint(0, 256, (5, 32, 32, 3), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(1))


def pixels(images):
    """What the exported graphs take: x = pixel - 128, NCHW float."""
    return images.permute(0, 3, 1, 2).float() - 128.0


def test_the_input_normalisation_is_pixel_centred(net, images):
    g = build_graphs(net, NORM)
    assert g.normalization == pixel_normalization(3) and g.input_range == (-128.0, 127.0)
    x = to_float(images, g.normalization["mean"], g.normalization["std"])
    torch.testing.assert_close(x, pixels(images), atol=1e-4, rtol=0)


def test_fused_lean_graph_matches_the_trained_predictor(net, images):
    g = build_graphs(net, NORM)
    with torch.no_grad():
        logits, good = make_predictor(net)(to_float(images, NORM["mean"], NORM["std"]))
        lean_logits, lean_good = g.fused["in-graph"](pixels(images))
        _, fa, fb = g.fused["from-features"](pixels(images))
    torch.testing.assert_close(lean_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lean_good, good, atol=1e-5, rtol=1e-5)
    assert fa.shape == (5, 50, 8, 8) and fb.shape == (5, 50, 7, 7)


@pytest.mark.parametrize("options", [{"pixel_input": False, "equalize": False},
                                     {"pixel_input": True, "equalize": False}])
def test_the_measured_alternatives_are_exact_too(net, images, options):
    """benchmarks/export_int8.py compares these graph variants: all are exact in float."""
    g = build_graphs(net, NORM, **options)
    with torch.no_grad():
        logits, good = make_predictor(net)(to_float(images, NORM["mean"], NORM["std"]))
        x = to_float(images, g.normalization["mean"], g.normalization["std"])
        lean_logits, lean_good = g.fused["in-graph"](x)
    torch.testing.assert_close(lean_logits, logits, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(lean_good, good, atol=1e-5, rtol=1e-5)


def test_blocks_match_up_to_the_moved_scales(net, images):
    """Internal outputs (blocks 0, 1) carry the next BN's |a| per channel; the feature blocks
    (2, 3), read by the head and goodness, are exact."""
    g = build_graphs(net, NORM)
    x_ref, x = to_float(images, NORM["mean"], NORM["std"]), pixels(images)
    with torch.no_grad():
        for i, (block, folded) in enumerate(zip(net.blocks, g.blocks, strict=True)):
            x_ref, x = block(x_ref), folded(x)
            scale = bn_affine(net.blocks[i + 1][0])[0].abs().float() if i < 2 else torch.ones(50)
            torch.testing.assert_close(x, x_ref * scale.view(1, -1, 1, 1), atol=1e-5, rtol=1e-5)


def test_equalisation_balances_the_next_convs_input_channels(net):
    """Folding BN1's scale into block 1's input channels would spread them over the ratio of
    BN1's scales; moved into block 0's outputs, block 1's input channels keep the trained
    weights' magnitudes (block 1's outputs carry BN2's |a|, a per-output-channel factor)."""
    g = build_graphs(net, NORM)
    a1, a2 = (bn_affine(net.blocks[i][0])[0].abs().float() for i in (1, 2))
    w_folded = g.blocks[1].conv.weight.detach().abs() / a2.view(-1, 1, 1, 1)
    torch.testing.assert_close(w_folded, net.blocks[1][1].weight.detach().abs(), rtol=1e-5,
                               atol=1e-7)
    assert a1.max() / a1.min() > 3, "the fixture's BN scales differ enough for this to matter"


def test_border_correction_is_needed_and_zero_inside(net):
    a, c = bn_affine(net.blocks[1][0])
    folded = fold_block(net.blocks[1], (16, 16), a, c)
    border = folded.border[0]  # (C_out, 16, 16)
    assert border[:, 1:-1, 1:-1].abs().max() == 0, "inside the image the plain bias is exact"
    assert border[:, 0, :].abs().max() > 1e-3, "the padded rows need their own bias"
    x = torch.rand(2, 50, 16, 16)
    with torch.no_grad():
        naive = torch.relu(folded.conv(x))  # the interior bias everywhere: wrong at the borders
        exact = net.blocks[1](x)
    assert (naive - exact)[..., 0, :].abs().max() > 1e-3
    torch.testing.assert_close(folded(x), exact, atol=1e-5, rtol=1e-5)


def test_a_dead_bn_channel_folds_to_zero_weights(net, images):
    broken = create_model("ff_tiny").eval()
    broken.load_state_dict(net.state_dict())
    with torch.no_grad():
        broken.blocks[0][0].weight[1] = 0.0
        broken.blocks[1][0].weight[3] = 0.0
    g = build_graphs(broken, NORM)
    with torch.no_grad():
        logits, good = make_predictor(broken)(to_float(images, NORM["mean"], NORM["std"]))
        lean_logits, lean_good = g.fused["in-graph"](pixels(images))
    assert g.blocks[0].conv.weight[:, 1].abs().max() == 0
    torch.testing.assert_close(lean_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lean_good, good, atol=1e-5, rtol=1e-5)


def test_outlier_head_columns_get_their_own_int8_scales(net, images):
    """Head features that never vary in training (e.g. empty MNIST borders) fold into huge
    columns; they move into gathered Linears of their own, exactly, so per-row int8 weights of
    the remaining columns keep their resolution."""
    from fftoolkit.export.fold import GroupedLinear

    odd = create_model("ff_tiny").eval()
    odd.load_state_dict(net.state_dict())
    with torch.no_grad():
        odd.head.norm.running_var[:40] = 1e-5  # |a| ~ 300 for 40 features
    g = build_graphs(odd, NORM)
    assert isinstance(g.head.fc, GroupedLinear)
    gathered = torch.cat([p.index for p in g.head.fc.parts]).tolist()
    assert len(set(range(40)) & set(gathered)) >= 30 and len(gathered) < 100
    with torch.no_grad():
        logits, good = make_predictor(odd)(to_float(images, NORM["mean"], NORM["std"]))
        lean_logits, lean_good = g.fused["in-graph"](pixels(images))
    torch.testing.assert_close(lean_logits, logits, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(lean_good, good, atol=1e-5, rtol=1e-5)
    dense = g.head.fc.dense.weight.abs().amax(dim=0)  # per column
    assert dense[gathered].max() == 0
    kept = dense[dense > 0]
    assert kept.max() <= 4 * kept.median() * 1.01, "no outlier left to set the int8 row scales"


def test_a_single_outlier_column_still_gets_a_two_input_linear(net, images):
    """A 1-input Linear converts to a TFLite MUL, which the C engine does not run, so the graph's
    ops would depend on the weights: a lone outlier column is gathered with a zero-weight
    neighbour instead."""
    odd = create_model("ff_tiny").eval()
    odd.load_state_dict(net.state_dict())
    with torch.no_grad():
        odd.head.norm.running_var[7] = 1e-6  # one feature folds into one huge column
    g = build_graphs(odd, NORM)
    parts = g.head.fc.parts
    assert [p.index.tolist() for p in parts if 7 in p.index.tolist()] == [[7, 8]]
    assert all(len(p.index) >= 2 for p in parts)
    assert g.head.fc.dense.weight[:, 7].abs().max() == 0
    assert g.head.fc.dense.weight[:, 8].abs().max() > 0  # the neighbour stays in the dense part
    with torch.no_grad():
        logits, good = make_predictor(odd)(to_float(images, NORM["mean"], NORM["std"]))
        lean_logits, lean_good = g.fused["in-graph"](pixels(images))
    torch.testing.assert_close(lean_logits, logits, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(lean_good, good, atol=1e-5, rtol=1e-5)

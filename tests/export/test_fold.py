"""BatchNorm folding is exact, including at the zero-padded borders."""

import pytest
import torch

from fftoolkit.errors import FFTKError
from fftoolkit.export.fold import fold_block, merged_normalization
from fftoolkit.export.graphs import build_graphs
from fftoolkit.ff import make_predictor
from fftoolkit.models import create_model
from fftoolkit.train.augment import to_float

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


def test_each_folded_block_matches_the_original_block(net, images):
    g = build_graphs(net, NORM)
    x_ref = to_float(images, NORM["mean"], NORM["std"])
    x = to_float(images, g.normalization["mean"], g.normalization["std"])  # BN0 merged in
    with torch.no_grad():
        for block, folded in zip(net.blocks, g.blocks, strict=True):
            ref = block(x_ref)
            out = folded(x)
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
            x_ref, x = ref, ref  # next block: same input for both


def test_fused_lean_graph_matches_the_trained_predictor(net, images):
    g = build_graphs(net, NORM)
    with torch.no_grad():
        logits, good = make_predictor(net)(to_float(images, NORM["mean"], NORM["std"]))
        x = to_float(images, g.normalization["mean"], g.normalization["std"])
        lean_logits, lean_good = g.fused["in-graph"](x)
        _, fa, fb = g.fused["from-features"](x)
    torch.testing.assert_close(lean_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lean_good, good, atol=1e-5, rtol=1e-5)
    assert fa.shape == (5, 50, 8, 8) and fb.shape == (5, 50, 7, 7)


def test_border_correction_is_needed_and_zero_inside(net):
    folded = fold_block(net.blocks[1], (16, 16), merge_bn=False)
    border = folded.border[0]  # (C_out, 16, 16)
    assert border[:, 1:-1, 1:-1].abs().max() == 0, "inside the image the plain bias is exact"
    assert border[:, 0, :].abs().max() > 1e-3, "the padded rows need their own bias"
    # A naive fold (the interior bias everywhere) is wrong at the borders:
    x = torch.rand(2, 50, 16, 16)
    with torch.no_grad():
        naive = torch.relu(folded.conv(x))
        exact = net.blocks[1](x)
    assert (naive - exact)[..., 0, :].abs().max() > 1e-3
    torch.testing.assert_close(folded(x), exact, atol=1e-5, rtol=1e-5)


def test_block0_with_a_zero_scale_cannot_merge(net):
    broken = create_model("ff_tiny").eval()
    broken.load_state_dict(net.state_dict())
    with torch.no_grad():
        broken.blocks[0][0].weight[1] = 0.0
    with pytest.raises(FFTKError, match="zero scale"):
        merged_normalization(broken, NORM["mean"], NORM["std"])

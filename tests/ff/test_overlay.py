import torch

from fftoolkit.ff.overlay import first_pixels_overlay, fourier_patterns, negative_labels


def test_negative_labels_never_equal_true_label_and_cover_all_others():
    labels = torch.arange(10).repeat(2000)
    neg = negative_labels(labels, 10, torch.Generator().manual_seed(0))
    assert not bool((neg == labels).any())
    for c in range(10):
        assert set(neg[labels == c].tolist()) == set(range(10)) - {c}


def test_first_pixels_overlay_one_hot_and_neutral():
    x = torch.rand(3, 1, 28, 28)
    out = first_pixels_overlay(x, torch.tensor([0, 4, 9]), 10)
    flat = out.flatten(1)
    assert flat[:, :10].argmax(1).tolist() == [0, 4, 9]
    assert torch.equal(flat[:, :10].sum(1), torch.ones(3))
    assert torch.equal(flat[:, 10:], x.flatten(1)[:, 10:])
    neutral = first_pixels_overlay(x, None, 10).flatten(1)
    assert torch.allclose(neutral[:, :10], torch.full((3, 10), 0.1))


def test_fourier_patterns_are_distinct_per_class():
    p = fourier_patterns(10, 28, 28).flatten(1)
    dist = torch.cdist(p, p) + torch.eye(10) * 1e9
    assert float(dist.min()) > 1.0

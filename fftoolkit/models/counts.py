"""Parameter and MAC counts, including the paper's Table III construction (SPEC §3)."""

from __future__ import annotations

from torch import nn

from fftoolkit.models.nets import block_shapes
from fftoolkit.models.spec import ModelSpec, conv_out


def trainable_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def table3_params(spec: ModelSpec) -> int:
    """Paper Table III count: blocks + (2F norm + Linear(F, J)) + a label embedding (J x H*W).

    P = sum_i (k_i^2 C_(i-1) C_i + 2 C_(i-1)) + 12F + 10 + 10*32*32 for 10 classes. The last
    term (an `Embedding(J, H*W)` label map of the label-conditioned variant) is inferred from
    the paper's counts; the channel-group network that fftk exports does not hold it.
    """
    if spec.network != "channel-groups":
        return deployed_params(spec)
    total, c_in = 0, spec.input[0]
    for b in spec.blocks:
        total += b.kernel**2 * c_in * b.channels + 2 * c_in
        c_in = b.channels
    features = sum(c * h * w for c, h, w in block_shapes(spec)[-2:])
    j = spec.num_classes
    total += (2 + j) * features + j
    if spec.label_embedding:
        total += j * spec.input[1] * spec.input[2]
    return total


def deployed_params(spec: ModelSpec) -> int:
    """Trainable parameters of the network fftk actually trains and exports."""
    from fftoolkit.models.nets import build_network

    return trainable_params(build_network(spec))


def macs_per_image(spec: ModelSpec) -> int:
    """Multiply-accumulates of one forward pass (convs and linears; the one-pass head included)."""
    c, h, w = spec.input
    total = 0
    if spec.network == "channel-groups":
        for b in spec.blocks:
            h, w = conv_out(h, b.kernel, spec.padding), conv_out(w, b.kernel, spec.padding)
            total += b.kernel**2 * c * b.channels * h * w
            c = b.channels
            if b.pool:
                h, w = h // 2, w // 2
        features = sum(cc * hh * ww for cc, hh, ww in block_shapes(spec)[-2:])
        return total + features * spec.num_classes
    units: list[int] = []
    flat = None
    for layer in spec.layers:
        if layer.type == "conv":
            h, w = conv_out(h, layer.kernel, spec.padding), conv_out(w, layer.kernel, spec.padding)
            total += layer.kernel**2 * c * layer.channels * h * w
            c = layer.channels
            if layer.pool:
                h, w = h // 2, w // 2
            units.append(c * h * w)
        else:
            in_features = flat if flat is not None else c * h * w
            total += in_features * layer.units
            flat = layer.units
            units.append(layer.units)
    return total + sum(units[1:]) * spec.num_classes

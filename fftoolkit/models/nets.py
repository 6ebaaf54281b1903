"""The networks built from specs. Modules hold architecture only; the FF equations live in `ff`."""

from __future__ import annotations

import torch
from torch import nn

from fftoolkit.models.pool import relu_max_pool2x2
from fftoolkit.models.spec import ModelSpec, conv_out


class FFBlock(nn.Sequential):
    """Improved-FF block (paper §III): BatchNorm2d(C_in) -> Conv2d(no bias) -> ReLU -> [MaxPool].

    compact_pool: while training, run ReLU -> MaxPool as `relu_max_pool2x2`, which keeps one
    byte per output for backward (same values and gradients). False keeps the stock ops, for
    measuring what that saves.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int, pool: bool,
                 compact_pool: bool = True):
        layers: list[nn.Module] = [
            nn.BatchNorm2d(c_in),
            nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=False),
            nn.ReLU(inplace=True),
        ]
        if pool:
            layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)
        self.compact_pool = compact_pool and pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compact_pool and self.training and torch.is_grad_enabled():
            return relu_max_pool2x2(self[1](self[0](x)))
        return super().forward(x)


class OnePassHead(nn.Module):
    """One-pass classifier on the flattened last two blocks: per-feature affine norm + Linear."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(features)
        self.fc = nn.Linear(features, num_classes)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([f.flatten(1) for f in feats], dim=1)  # (N, F)
        return self.fc(self.norm(x))


def block_shapes(spec: ModelSpec) -> list[tuple[int, int, int]]:
    """Output shape (C, H, W) of each improved-FF block."""
    _, h, w = spec.input
    shapes = []
    for b in spec.blocks:
        h, w = conv_out(h, b.kernel, spec.padding), conv_out(w, b.kernel, spec.padding)
        if b.pool:
            h, w = h // 2, w // 2
        shapes.append((b.channels, h, w))
    return shapes


class ImprovedFFNet(nn.Module):
    """Channel-group CNN trained block by block; inference reads the last two blocks."""

    def __init__(self, spec: ModelSpec, compact_pool: bool = True):
        super().__init__()
        self.spec = spec
        c_in = spec.input[0]
        blocks = []
        for b in spec.blocks:
            blocks.append(FFBlock(c_in, b.channels, b.kernel, spec.padding, b.pool, compact_pool))
            c_in = b.channels
        self.blocks = nn.ModuleList(blocks)
        shapes = block_shapes(spec)
        self.head_features = sum(c * h * w for c, h, w in shapes[-2:])
        self.head = OnePassHead(self.head_features, spec.num_classes)

    @property
    def units(self) -> nn.ModuleList:
        """The locally trained pieces (blocks), each with its own optimiser."""
        return self.blocks

    def forward_unit(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[i](x)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output, in order (no detaching: training decides where to cut)."""
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


def length_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Length-normalise each sample so only the direction of the activity passes on (Hinton).

    Scaled to unit root-mean-square (length sqrt(D)) rather than unit length, so the next
    layer's activities and its mean-of-squares goodness start on the scale of the threshold.
    """
    flat = x.flatten(1)
    rms = flat.pow(2).mean(dim=1, keepdim=True).sqrt()
    return (flat / (rms + eps)).view_as(x)


class _StraightThroughReLU(torch.autograd.Function):
    """ReLU forward, identity backward: a unit that is silent for a batch still learns, so it
    can come back (Loewe's Forward-Forward reimplementation; FF layers otherwise lose many units
    for good once the label overlays gate them)."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad


class OriginalFFNet(nn.Module):
    """Hinton's FF network: a stack of layers, each fed the length-normalised previous activity.

    The input must already carry the label overlay (see `fftoolkit.ff.overlay`). With
    `ff.relu_gradient: straight-through` the ReLUs pass every gradient while training; the
    forward values (and so inference and export) are the same either way.
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.straight_through = spec.ff.relu_gradient == "straight-through"
        c, h, w = spec.input
        layers: list[nn.Module] = []
        flat: int | None = None
        for layer in spec.layers:
            if layer.type == "conv":
                mods: list[nn.Module] = [nn.Conv2d(c, layer.channels, layer.kernel,
                                                   padding=spec.padding), nn.ReLU()]
                h = conv_out(h, layer.kernel, spec.padding)
                w = conv_out(w, layer.kernel, spec.padding)
                if layer.pool:
                    mods.append(nn.MaxPool2d(2))
                    h, w = h // 2, w // 2
                c = layer.channels
                layers.append(nn.Sequential(*mods))
            else:
                in_features = flat if flat is not None else c * h * w
                mods = [nn.Linear(in_features, layer.units), nn.ReLU()]
                if flat is None:
                    mods.insert(0, nn.Flatten())
                layers.append(nn.Sequential(*mods))
                flat = layer.units
        self.layers = nn.ModuleList(layers)
        if spec.ff.init == "normal":
            for module in self.layers.modules():
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    nn.init.normal_(module.weight, 0.0, module.weight[0].numel() ** -0.5)
                    nn.init.zeros_(module.bias)
        # Units of each layer: the one-pass head reads layers 2..L.
        self.layer_units = [int(a[0].numel()) for a in self._unit_probe()]
        self.head = nn.Linear(sum(self.layer_units[1:]), spec.num_classes)

    def _unit_probe(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return self.forward_features(torch.zeros(1, *self.spec.input))

    @property
    def units(self) -> nn.ModuleList:
        """The locally trained pieces (layers), each with its own optimiser."""
        return self.layers

    def forward_unit(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = length_normalize(x)
        if not (self.straight_through and self.training and torch.is_grad_enabled()):
            return self.layers[i](x)
        for module in self.layers[i]:
            x = _StraightThroughReLU.apply(x) if isinstance(module, nn.ReLU) else module(x)
        return x

    def head_logits(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """One-pass softmax on the length-normalised activities of layers 2..L (not layer 1).

        Normalised like every layer's input, so the head sees directions whose scale does not
        drift as the layers' goodness grows.
        """
        return self.head(torch.cat([length_normalize(f).flatten(1) for f in feats[1:]], dim=1))

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's activity; each layer sees the normalised (not detached) previous one."""
        feats = []
        for i in range(len(self.layers)):
            x = self.forward_unit(i, x)
            feats.append(x)
        return feats


# network kind (models.spec.ALGORITHMS) -> its module class
NETWORKS: dict[str, type[nn.Module]] = {"channel-groups": ImprovedFFNet,
                                        "label-overlay": OriginalFFNet}


def build_network(spec: ModelSpec) -> nn.Module:
    return NETWORKS[spec.network](spec)

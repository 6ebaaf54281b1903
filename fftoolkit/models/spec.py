"""Model specs: plain data (YAML) describing a network, validated before anything is built.

Two families:
- `improved`: channel-group CNN blocks BN -> Conv(no bias) -> ReLU -> [MaxPool2d(2)] (paper §III).
- `original`: Hinton's FF layers (linear or conv) trained on label-overlaid inputs (paper §II-A).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fftoolkit.errors import FFTKError

TOP_KEYS = {"name", "algorithm", "input", "num_classes", "label_embedding", "blocks", "layers",
            "ff", "train", "padding"}
BLOCK_KEYS = {"channels", "kernel", "pool"}
LAYER_KEYS = {"type", "units", "channels", "kernel", "pool"}
FF_KEYS = {"goodness", "threshold", "overlay"}
TRAIN_KEYS = {"dataset", "epochs", "batch_size", "lr", "milestones", "gamma", "routine", "augment"}
ROUTINES = ("chunked", "greedy", "overlapping")
OVERLAYS = ("first-pixels", "fourier")


@dataclass(frozen=True)
class BlockSpec:
    """One improved-FF block: BN(C_in) -> Conv(k, padding) -> ReLU -> optional MaxPool2d(2)."""

    channels: int
    kernel: int
    pool: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """One original-FF layer: `linear` (units) or `conv` (channels, kernel, optional pool)."""

    type: str
    units: int = 0
    channels: int = 0
    kernel: int = 3
    pool: bool = False


@dataclass(frozen=True)
class TrainSpec:
    """Default training schedule; every field can be overridden from the command line."""

    dataset: str = "cifar10"
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    routine: str = "chunked"
    augment: bool = False


@dataclass(frozen=True)
class FFSpec:
    """Original-FF settings: goodness reduction (`mean`|`sum` of squares), threshold, overlay."""

    goodness: str = "mean"
    threshold: float = 2.0
    overlay: str = "first-pixels"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    algorithm: str
    input: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    blocks: tuple[BlockSpec, ...] = ()
    layers: tuple[LayerSpec, ...] = ()
    ff: FFSpec = field(default_factory=FFSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    label_embedding: bool = False
    padding: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The YAML-equivalent dict, stored inside checkpoints and manifests."""
        d: dict[str, Any] = {
            "name": self.name,
            "algorithm": self.algorithm,
            "input": list(self.input),
            "num_classes": self.num_classes,
            "padding": self.padding,
            "train": {**self.train.__dict__, "milestones": list(self.train.milestones)},
        }
        if self.algorithm == "improved":
            d["label_embedding"] = self.label_embedding
            d["blocks"] = [b.__dict__.copy() for b in self.blocks]
        else:
            d["layers"] = [layer.__dict__.copy() for layer in self.layers]
            d["ff"] = self.ff.__dict__.copy()
        return d


def _check_keys(d: Any, allowed: set[str], where: str, source: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise FFTKError(f"{source}: '{where}' must be a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise FFTKError(
            f"{source}: unknown key '{where + '.' if where else ''}{unknown[0]}' "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    return d


def _positive_int(value: Any, key: str, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FFTKError(f"{source}: '{key}' must be a positive integer, got {value!r}")
    return value


def conv_out(size: int, kernel: int, padding: int) -> int:
    """Spatial size after a stride-1 convolution."""
    return size + 2 * padding - kernel + 1


def spec_from_dict(d: dict[str, Any], source: str = "<spec>") -> ModelSpec:
    """Validate a raw spec dict and build a `ModelSpec`; errors name the offending key."""
    d = _check_keys(d, TOP_KEYS, "", source)
    for key in ("name", "algorithm", "input", "num_classes"):
        if key not in d:
            raise FFTKError(f"{source}: missing required key '{key}'")
    algorithm = d["algorithm"]
    if algorithm not in ("improved", "original"):
        raise FFTKError(
            f"{source}: 'algorithm' must be 'improved' or 'original', got {algorithm!r}")
    shape = d["input"]
    if not (isinstance(shape, list) and len(shape) == 3):
        raise FFTKError(f"{source}: 'input' must be [C, H, W], got {shape!r}")
    shape = tuple(_positive_int(v, "input", source) for v in shape)
    num_classes = _positive_int(d["num_classes"], "num_classes", source)
    padding = d.get("padding", 1)
    if not isinstance(padding, int) or padding < 0:
        raise FFTKError(f"{source}: 'padding' must be a non-negative integer, got {padding!r}")

    train_raw = dict(_check_keys(d.get("train", {}), TRAIN_KEYS, "train", source))
    train_raw["milestones"] = tuple(train_raw.get("milestones", ()))
    train = TrainSpec(**train_raw)
    if train.routine not in ROUTINES:
        raise FFTKError(f"{source}: 'train.routine' must be one of {', '.join(ROUTINES)}")

    common = dict(name=str(d["name"]), algorithm=algorithm, input=shape,
                  num_classes=num_classes, train=train, padding=padding)
    if algorithm == "improved":
        spec = ModelSpec(**common, blocks=_parse_blocks(d, num_classes, source),
                         label_embedding=bool(d.get("label_embedding", False)))
    else:
        ff = FFSpec(**_check_keys(d.get("ff", {}), FF_KEYS, "ff", source))
        if ff.goodness not in ("mean", "sum"):
            raise FFTKError(f"{source}: 'ff.goodness' must be 'mean' or 'sum'")
        if ff.overlay not in OVERLAYS:
            raise FFTKError(f"{source}: 'ff.overlay' must be one of {', '.join(OVERLAYS)}")
        spec = ModelSpec(**common, layers=_parse_layers(d, source), ff=ff)
    _check_spatial(spec, source)
    return spec


def _parse_blocks(d: dict[str, Any], num_classes: int, source: str) -> tuple[BlockSpec, ...]:
    raw = d.get("blocks")
    if "layers" in d:
        raise FFTKError(f"{source}: 'layers' is for algorithm 'original'; use 'blocks'")
    if not isinstance(raw, list) or len(raw) < 2:
        raise FFTKError(
            f"{source}: 'blocks' must list at least 2 blocks (inference uses the last two)")
    blocks = []
    for i, b in enumerate(raw):
        b = _check_keys(b, BLOCK_KEYS, f"blocks[{i}]", source)
        if "channels" not in b or "kernel" not in b:
            raise FFTKError(f"{source}: 'blocks[{i}]' needs 'channels' and 'kernel'")
        channels = _positive_int(b["channels"], f"blocks[{i}].channels", source)
        if channels % num_classes:
            raise FFTKError(
                f"{source}: 'blocks[{i}].channels' = {channels} is not divisible by "
                f"num_classes = {num_classes} (channel groups need C = J * S)"
            )
        kernel = _positive_int(b["kernel"], f"blocks[{i}].kernel", source)
        blocks.append(BlockSpec(channels, kernel, bool(b.get("pool", False))))
    return tuple(blocks)


def _parse_layers(d: dict[str, Any], source: str) -> tuple[LayerSpec, ...]:
    raw = d.get("layers")
    if "blocks" in d:
        raise FFTKError(f"{source}: 'blocks' is for algorithm 'improved'; use 'layers'")
    if not isinstance(raw, list) or len(raw) < 2:
        raise FFTKError(f"{source}: 'layers' must list at least 2 layers")
    layers = []
    seen_linear = False
    for i, layer in enumerate(raw):
        layer = _check_keys(layer, LAYER_KEYS, f"layers[{i}]", source)
        kind = layer.get("type")
        if kind == "linear":
            seen_linear = True
            layers.append(LayerSpec("linear", units=_positive_int(
                layer.get("units"), f"layers[{i}].units", source)))
        elif kind == "conv":
            if seen_linear:
                raise FFTKError(f"{source}: 'layers[{i}]' is a conv after a linear layer")
            layers.append(LayerSpec(
                "conv",
                channels=_positive_int(layer.get("channels"), f"layers[{i}].channels", source),
                kernel=_positive_int(layer.get("kernel", 3), f"layers[{i}].kernel", source),
                pool=bool(layer.get("pool", False)),
            ))
        else:
            raise FFTKError(
                f"{source}: 'layers[{i}].type' must be 'linear' or 'conv', got {kind!r}")
    return tuple(layers)


def _check_spatial(spec: ModelSpec, source: str) -> None:
    """Refuse specs whose feature maps shrink below 1x1."""
    size = min(spec.input[1:])
    convs = [(f"blocks[{i}]", b.kernel, b.pool) for i, b in enumerate(spec.blocks)]
    convs += [(f"layers[{i}]", lyr.kernel, lyr.pool) for i, lyr in enumerate(spec.layers)
              if lyr.type == "conv"]
    for where, kernel, pool in convs:
        size = conv_out(size, kernel, spec.padding)
        if pool:
            size //= 2
        if size < 1:
            raise FFTKError(f"{source}: '{where}.kernel' shrinks the feature map below 1x1")


def load_spec_file(path: str | Path) -> ModelSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FFTKError(f"{path}: model spec not found") from None
    except yaml.YAMLError as exc:
        raise FFTKError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return spec_from_dict(raw, source=str(path))

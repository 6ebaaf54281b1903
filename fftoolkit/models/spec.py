"""Model specs: plain data (YAML) describing a network, validated before anything is built.

Two families:
- `improved`: channel-group CNN blocks BN -> Conv(no bias) -> ReLU -> [MaxPool2d(2)] (paper §III).
- `original`: Hinton's FF layers (linear or conv) trained on label-overlaid inputs (paper §II-A).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fftoolkit.errors import FFTKError
from fftoolkit.limits import Limit
from fftoolkit.untrusted import check_name

# FF algorithm -> the network it trains: "channel-groups" (the improved FF's CNN blocks, spec
# key `blocks`) or "label-overlay" (Hinton's layers on label-overlaid inputs, `layers` + `ff`).
# An FF variant that trains one of these networks is its family module in fftoolkit/ff
# (objective, predictor: fftoolkit.ff.family) plus one line here.
ALGORITHMS: dict[str, str] = {"improved": "channel-groups", "original": "label-overlay"}
TOP_KEYS = {"name", "algorithm", "input", "num_classes", "label_embedding", "blocks", "layers",
            "ff", "train", "padding"}
BLOCK_KEYS = {"channels", "kernel", "pool"}
LAYER_KEYS = {"type", "units", "channels", "kernel", "pool"}
FF_KEYS = {"goodness", "threshold", "overlay", "peer_normalization", "relu_gradient", "init"}
TRAIN_KEYS = {"dataset", "epochs", "batch_size", "lr", "milestones", "gamma", "routine", "augment",
              "loss", "lr_schedule", "optimizer", "momentum", "weight_decay", "head_lr",
              "head_weight_decay"}
ROUTINES = ("chunked", "greedy", "overlapping")  # fftoolkit.ff.routines
LR_SCHEDULES = ("step", "cosine", "linear-cooldown")  # fftoolkit.train.schedule
OPTIMIZERS = ("adam", "sgd")  # fftoolkit.train.loop.make_optimizer
RELU_GRADIENTS = ("standard", "straight-through")  # fftoolkit.models.nets
INITS = ("torch", "normal")  # fftoolkit.models.nets.OriginalFFNet
AUGMENTS = ("none", "basic", "strong")  # fftoolkit.train.augment; true/false: basic/none
OVERLAYS = ("first-pixels", "fourier")

# Limits on what a spec (a YAML file, or the spec inside a checkpoint or bundle) may declare,
# checked before anything is built, so absurd sizes end in one line rather than an allocation
# failure. Each is far above the zoo's largest; only the total weight count is overridable.
MAX_INPUT_CHANNELS = 64
MAX_INPUT_SIDE = 4096  # H and W
MAX_NUM_CLASSES = 10_000
MAX_LAYERS = 256  # entries of `blocks` or `layers`
MAX_CHANNELS = 65_536  # per block or conv layer
MAX_UNITS = 1 << 20  # per linear layer
MAX_KERNEL = 64
MAX_PADDING = 64
MAX_FEATURE_ELEMENTS = 1 << 27  # C x H x W of one layer's output for one image (512 MB fp32)
MAX_PARAMS = Limit(200_000_000, "FFTK_MAX_MODEL_PARAMS")  # estimated weights of all layers
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 1 << 20


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
    augment: bool | str = False  # an AUGMENTS name, or true (basic) / false (none)
    loss: str | None = None  # a loss of the algorithm's family (None: the family's default)
    lr_schedule: str = "step"  # step: MultiStepLR(milestones, gamma); cosine: over the epochs
    optimizer: str = "adam"  # one per block (and one for the head): adam, or sgd with momentum
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0  # L2 on the blocks' weights
    head_lr: float | None = None  # the one-pass head's LR (None: --lr)
    head_weight_decay: float = 0.0


@dataclass(frozen=True)
class FFSpec:
    """Original-FF settings: goodness reduction (`mean`|`sum` of squares), threshold, overlay,
    and two training-only aids against dead units (Hinton's ffcode; Loewe's reimplementation):
    peer normalisation's weight in each layer's loss, and the ReLU's backward pass."""

    goodness: str = "mean"
    threshold: float = 2.0
    overlay: str = "first-pixels"
    peer_normalization: float = 0.0  # 0: off (fftoolkit.ff.peer)
    relu_gradient: str = "standard"  # straight-through: ReLU passes every gradient backward
    # torch: PyTorch's layer defaults; normal: weights N(0, 1/fan_in), biases 0 (Hinton's ffcode),
    # so a length-normalised input starts every layer's goodness at about half its width
    init: str = "torch"


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

    @property
    def network(self) -> str:
        """The kind of network the algorithm trains (`ALGORITHMS`)."""
        return ALGORITHMS[self.algorithm]

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
        if self.network == "channel-groups":
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


def _positive_int(value: Any, key: str, source: str, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FFTKError(f"{source}: '{key}' must be a positive integer, got {_short(value)}")
    if maximum is not None and value > maximum:
        raise FFTKError(f"{source}: '{key}' = {value:,} is over the limit of {maximum:,}")
    return value


def _short(value: Any) -> str:
    """repr() cut to one short line, for error messages about values from untrusted files."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


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
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise FFTKError(f"{source}: 'algorithm' must be one of {', '.join(ALGORITHMS)}, got "
                        f"{_short(algorithm)}")
    shape = d["input"]
    if not (isinstance(shape, list) and len(shape) == 3):
        raise FFTKError(f"{source}: 'input' must be [C, H, W], got {_short(shape)}")
    shape = (_positive_int(shape[0], "input[0] (channels)", source, MAX_INPUT_CHANNELS),
             _positive_int(shape[1], "input[1] (height)", source, MAX_INPUT_SIDE),
             _positive_int(shape[2], "input[2] (width)", source, MAX_INPUT_SIDE))
    num_classes = _positive_int(d["num_classes"], "num_classes", source, MAX_NUM_CLASSES)
    padding = d.get("padding", 1)
    if not isinstance(padding, int) or isinstance(padding, bool) or not \
            0 <= padding <= MAX_PADDING:
        raise FFTKError(f"{source}: 'padding' must be an integer from 0 to {MAX_PADDING}, "
                        f"got {_short(padding)}")
    train = _parse_train(d.get("train", {}), source)

    common = dict(name=check_name(d["name"], "model name", source), algorithm=algorithm,
                  input=shape, num_classes=num_classes, train=train, padding=padding)
    if ALGORITHMS[algorithm] == "channel-groups":
        spec = ModelSpec(**common, blocks=_parse_blocks(d, num_classes, source),
                         label_embedding=bool(d.get("label_embedding", False)))
    else:
        spec = ModelSpec(**common, layers=_parse_layers(d, source), ff=_parse_ff(d, source))
    _check_spatial(spec, source)
    _check_size(spec, source)
    return spec


def _parse_train(raw: Any, source: str) -> TrainSpec:
    """The training schedule, each value checked here rather than failing mid-training."""
    t = dict(_check_keys(raw, TRAIN_KEYS, "train", source))
    if "dataset" in t and not isinstance(t["dataset"], str):
        raise FFTKError(f"{source}: 'train.dataset' must be a string, got {_short(t['dataset'])}")
    for key, maximum in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH_SIZE)):
        if key in t:
            _positive_int(t[key], f"train.{key}", source, maximum)
    if "lr" in t and not (_finite(t["lr"]) and t["lr"] > 0):
        raise FFTKError(f"{source}: 'train.lr' must be a finite number above 0, "
                        f"got {_short(t['lr'])}")
    if "gamma" in t and not (_finite(t["gamma"]) and 0 < t["gamma"] <= 1):
        raise FFTKError(f"{source}: 'train.gamma' must be a number in (0, 1], "
                        f"got {_short(t['gamma'])}")
    milestones = t.get("milestones", [])
    if not isinstance(milestones, (list, tuple)):
        raise FFTKError(f"{source}: 'train.milestones' must be a list of epochs, "
                        f"got {_short(milestones)}")
    t["milestones"] = tuple(_positive_int(m, "train.milestones", source, MAX_EPOCHS)
                            for m in milestones)
    if "augment" in t and not (isinstance(t["augment"], bool) or t["augment"] in AUGMENTS):
        raise FFTKError(f"{source}: 'train.augment' must be true, false or one of "
                        f"{', '.join(AUGMENTS)}, got {_short(t['augment'])}")
    if t.get("loss") is not None and not isinstance(t["loss"], str):
        raise FFTKError(f"{source}: 'train.loss' must be a string, got {_short(t['loss'])}")
    for key in ("momentum", "weight_decay", "head_lr", "head_weight_decay"):
        value = t.get(key)
        if value is not None and not (_finite(value) and value >= 0):
            raise FFTKError(f"{source}: 'train.{key}' must be a finite number >= 0, "
                            f"got {_short(value)}")
    train = TrainSpec(**t)
    _check_choices(train, "train", {"routine": ROUTINES, "lr_schedule": LR_SCHEDULES,
                                    "optimizer": OPTIMIZERS}, source)
    return train


def _check_choices(section: Any, name: str, choices: dict[str, tuple[str, ...]],
                   source: str) -> None:
    """Each named field of a parsed spec section is one of its choices, or one line says so."""
    for key, allowed in choices.items():
        if getattr(section, key) not in allowed:
            raise FFTKError(f"{source}: '{name}.{key}' must be one of {', '.join(allowed)}")


def augment_level(value: bool | str) -> str:
    """An augmentation setting as an AUGMENTS name: true/false (specs and runs from before
    `--augment none|basic|strong`) are basic/none."""
    if isinstance(value, bool):
        return "basic" if value else "none"
    return value


def _parse_ff(d: dict[str, Any], source: str) -> FFSpec:
    ff = FFSpec(**_check_keys(d.get("ff", {}), FF_KEYS, "ff", source))
    if ff.goodness not in ("mean", "sum"):
        raise FFTKError(f"{source}: 'ff.goodness' must be 'mean' or 'sum'")
    _check_choices(ff, "ff", {"overlay": OVERLAYS, "relu_gradient": RELU_GRADIENTS,
                              "init": INITS}, source)
    if not _finite(ff.threshold):
        raise FFTKError(f"{source}: 'ff.threshold' must be a finite number, "
                        f"got {_short(ff.threshold)}")
    if not (_finite(ff.peer_normalization) and ff.peer_normalization >= 0):
        raise FFTKError(f"{source}: 'ff.peer_normalization' must be a finite number >= 0, "
                        f"got {_short(ff.peer_normalization)}")
    return ff


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _parse_blocks(d: dict[str, Any], num_classes: int, source: str) -> tuple[BlockSpec, ...]:
    raw = d.get("blocks")
    if "layers" in d:
        raise FFTKError(f"{source}: 'layers' is for algorithm 'original'; use 'blocks'")
    if not isinstance(raw, list) or len(raw) < 2:
        raise FFTKError(
            f"{source}: 'blocks' must list at least 2 blocks (inference uses the last two)")
    if len(raw) > MAX_LAYERS:
        raise FFTKError(f"{source}: 'blocks' lists {len(raw):,} blocks, over the limit of "
                        f"{MAX_LAYERS}")
    blocks = []
    for i, b in enumerate(raw):
        b = _check_keys(b, BLOCK_KEYS, f"blocks[{i}]", source)
        if "channels" not in b or "kernel" not in b:
            raise FFTKError(f"{source}: 'blocks[{i}]' needs 'channels' and 'kernel'")
        channels = _positive_int(b["channels"], f"blocks[{i}].channels", source, MAX_CHANNELS)
        if channels % num_classes:
            raise FFTKError(
                f"{source}: 'blocks[{i}].channels' = {channels} is not divisible by "
                f"num_classes = {num_classes} (channel groups need C = J * S)"
            )
        kernel = _positive_int(b["kernel"], f"blocks[{i}].kernel", source, MAX_KERNEL)
        blocks.append(BlockSpec(channels, kernel, bool(b.get("pool", False))))
    return tuple(blocks)


def _parse_layers(d: dict[str, Any], source: str) -> tuple[LayerSpec, ...]:
    raw = d.get("layers")
    if "blocks" in d:
        raise FFTKError(f"{source}: 'blocks' is for algorithm 'improved'; use 'layers'")
    if not isinstance(raw, list) or len(raw) < 2:
        raise FFTKError(f"{source}: 'layers' must list at least 2 layers")
    if len(raw) > MAX_LAYERS:
        raise FFTKError(f"{source}: 'layers' lists {len(raw):,} layers, over the limit of "
                        f"{MAX_LAYERS}")
    layers = []
    seen_linear = False
    for i, layer in enumerate(raw):
        layer = _check_keys(layer, LAYER_KEYS, f"layers[{i}]", source)
        kind = layer.get("type")
        if kind == "linear":
            seen_linear = True
            layers.append(LayerSpec("linear", units=_positive_int(
                layer.get("units"), f"layers[{i}].units", source, MAX_UNITS)))
        elif kind == "conv":
            if seen_linear:
                raise FFTKError(f"{source}: 'layers[{i}]' is a conv after a linear layer")
            layers.append(LayerSpec(
                "conv",
                channels=_positive_int(layer.get("channels"), f"layers[{i}].channels", source,
                                       MAX_CHANNELS),
                kernel=_positive_int(layer.get("kernel", 3), f"layers[{i}].kernel", source,
                                     MAX_KERNEL),
                pool=bool(layer.get("pool", False)),
            ))
        else:
            raise FFTKError(
                f"{source}: 'layers[{i}].type' must be 'linear' or 'conv', got {_short(kind)}")
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


def _check_size(spec: ModelSpec, source: str) -> None:
    """Refuse, before anything is allocated, a network whose feature maps or weights are absurd:
    each layer's output for one image, and an estimate of all weights (head included)."""
    c, h, w = spec.input
    params, outputs = 0, []
    layers = [(f"blocks[{i}]", "conv", b.channels, b.kernel, b.pool)
              for i, b in enumerate(spec.blocks)]
    layers += [(f"layers[{i}]", lyr.type, lyr.units or lyr.channels, lyr.kernel, lyr.pool)
               for i, lyr in enumerate(spec.layers)]
    for where, kind, width, kernel, pool in layers:
        if kind == "conv":
            params += kernel * kernel * c * width + 2 * c + width  # conv + norm + bias
            h, w = conv_out(h, kernel, spec.padding), conv_out(w, kernel, spec.padding)
            c, elements = width, width * h * w
            h, w = (h // 2, w // 2) if pool else (h, w)
        else:
            params += c * h * w * width + width
            c, h, w = width, 1, 1
            elements = width
        if elements > MAX_FEATURE_ELEMENTS:
            raise FFTKError(f"{source}: '{where}' outputs {elements:,} values per image, over "
                            f"the limit of {MAX_FEATURE_ELEMENTS:,}")
        outputs.append(c * h * w)
    params += (2 + spec.num_classes) * sum(outputs[-2:])  # the one-pass head, about
    if params > MAX_PARAMS.get():
        raise FFTKError(f"{source}: the model would hold about {params:,} weights, over the "
                        f"limit ({MAX_PARAMS.hint()})")


def load_spec_file(path: str | Path) -> ModelSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FFTKError(f"{path}: model spec not found") from None
    except yaml.YAMLError as exc:
        raise FFTKError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return spec_from_dict(raw, source=str(path))

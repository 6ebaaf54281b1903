"""Checkpoints: one file that rebuilds the model with no flags, loaded without unpickling code.

Two formats:
- `.pt`: a torch file of tensors and plain containers (weights, optimiser and scheduler states,
  RNG state, metrics); always loaded with `torch.load(weights_only=True)`. Used to resume.
- `.safetensors`: weights only, with spec/classes/normalisation/metrics as JSON metadata, the
  header written with sorted keys so saving the same checkpoint twice gives the same bytes.
  The format shipped in `models/weights/` and a bundle's `reference.safetensors`.

In memory a checkpoint is a `Checkpoint`; its metadata's types are checked once, at load, so a
crafted or damaged file fails there with the field's name, not deep inside train, eval or export.
"""

from __future__ import annotations

import io
import json
import math
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from fftoolkit.atomic import atomic_path
from fftoolkit.errors import FFTKError

FORMAT = "fftk-checkpoint"
VERSION = 1
META_KEYS = ("spec", "classes", "normalization", "metrics", "train_args")  # .safetensors metadata
REQUIRED = ("spec", "model", "classes", "normalization")


@dataclass
class Checkpoint:
    """What a checkpoint file holds. Optional fields are None when the file lacks them (a
    weights-only file has no training state; a hand-made one may have no metrics)."""

    spec: dict[str, Any]  # the model spec (`ModelSpec.to_dict()`): rebuilds the network
    model: dict[str, torch.Tensor]  # the network's state_dict
    classes: list[str]  # one name per output
    normalization: dict[str, list[float]]  # {"mean": [...], "std": [...]}, one per channel
    metrics: list[dict[str, Any]] | None = None  # one record per finished epoch
    train_args: dict[str, Any] | None = None  # the run's resolved TrainConfig (no `resume`)
    # resume-only (`.pt` files written by `fftk train`; never in `.safetensors`):
    trainer: dict[str, Any] | None = None  # optimizers, head_optimizer, schedulers, step
    rng: dict[str, Any] | None = None  # {"generator": ..., "torch": ...} RNG states

    @property
    def epochs_done(self) -> int:
        """Finished epochs: a resumed run continues with the next one."""
        return len(self.metrics or [])

    def weights_only(self) -> Checkpoint:
        """The shippable part: weights and metadata, no optimiser or RNG state."""
        return replace(self, trainer=None, rng=None)

    def to_dict(self) -> dict[str, Any]:
        """The `.pt` payload: the marker, then every field the checkpoint has."""
        fields = {"spec": self.spec, "classes": self.classes,
                  "normalization": self.normalization, "model": self.model,
                  "trainer": self.trainer, "rng": self.rng, "metrics": self.metrics,
                  "train_args": self.train_args}
        return {"format": FORMAT, "version": VERSION,
                **{k: v for k, v in fields.items() if v is not None}}


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write atomically, so a crash or Ctrl-C leaves the previous checkpoint intact."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            tmp.write_bytes(_safetensors_bytes(ckpt))
        else:
            torch.save(ckpt.to_dict(), tmp)


def _safetensors_bytes(ckpt: Checkpoint) -> bytes:
    from safetensors.torch import save

    payload = ckpt.to_dict()
    meta = {k: json.dumps(payload[k]) for k in META_KEYS if k in payload}
    meta.update(format=FORMAT, version=str(VERSION))
    tensors = {k: v.contiguous() for k, v in ckpt.model.items()}
    return _canonical_header(save(tensors, metadata=meta))


def _canonical_header(raw: bytes) -> bytes:
    """The same file with its JSON header's keys sorted: safetensors writes the metadata map in
    hash order, which changes from run to run and would make two saves (and exports) differ."""
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.dumps(json.loads(raw[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header with spaces to 8 bytes
    return struct.pack("<Q", len(header)) + header + raw[8 + n:]


def export_weights(src: str | Path, dst: str | Path, half: bool = False) -> None:
    """Strip a training checkpoint to the shippable safetensors form (weights + metadata).

    `half` stores float tensors as float16: half the bytes, for weights too large to ship in
    fp32; the network loads them back into fp32 (`load_state_dict` converts)."""
    ckpt = load_checkpoint(src).weights_only()
    if half:
        ckpt = replace(ckpt, model={k: v.half() if v.is_floating_point() else v
                                    for k, v in ckpt.model.items()})
    save_checkpoint(dst, ckpt)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load either format (by suffix); any damage becomes an `FFTKError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FFTKError(f"{path}: checkpoint not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FFTKError(f"{path}: not a readable fftk checkpoint ({type(exc).__name__})") from None
    return checkpoint_from_bytes(data, str(path), path.suffix)


def checkpoint_from_bytes(data: bytes, source: str, suffix: str = ".safetensors") -> Checkpoint:
    """A checkpoint from bytes the caller has already read (and, for a bundle, sha256-checked),
    so what is parsed is exactly what was checked; `source` names it in errors."""
    try:
        if suffix == ".safetensors":
            state = _parse_safetensors(data)
        else:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except FFTKError:
        raise
    except Exception as exc:  # damaged/truncated files surface as many exception types
        raise FFTKError(f"{source}: not a readable fftk checkpoint "
                        f"({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise FFTKError(f"{source}: not an fftk checkpoint (no '{FORMAT}' marker)")
    for key in REQUIRED:
        if key not in state:
            raise FFTKError(f"{source}: checkpoint is missing '{key}'")
    check_fields(state, source)
    return Checkpoint(spec=state["spec"], model=state["model"], classes=state["classes"],
                      normalization=state["normalization"], metrics=state.get("metrics"),
                      train_args=state.get("train_args"), trainer=state.get("trainer"),
                      rng=state.get("rng"))


def _parse_safetensors(data: bytes) -> dict[str, Any]:
    """The file's tensors as `model`, its metadata's JSON values decoded."""
    from safetensors.torch import load

    model = load(data)  # checks the whole layout before anything below reads the header
    size = struct.unpack("<Q", data[:8])[0]
    meta = json.loads(data[8:8 + size]).get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("metadata is not a map of strings")
    state: dict[str, Any] = {k: json.loads(meta[k]) for k in META_KEYS if k in meta}
    state.update(format=meta.get("format"), version=int(meta.get("version", 0)), model=model)
    return state


def check_fields(state: dict[str, Any], source: str) -> None:
    """Check the metadata's types once, at load, so a crafted or damaged checkpoint fails here
    with the field's name instead of as a traceback deep inside training, eval or export."""
    _expect(state, "spec", isinstance(state["spec"], dict), "a mapping", source)
    model = state["model"]
    _expect(state, "model", isinstance(model, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()),
        "a mapping of names to tensors", source)
    classes = state["classes"]
    _expect(state, "classes", isinstance(classes, list) and bool(classes) and all(
        isinstance(c, str) for c in classes), "a non-empty list of strings", source)
    _check_normalization(state["normalization"], source)
    if "metrics" in state:
        _expect(state, "metrics", isinstance(state["metrics"], list) and all(
            isinstance(m, dict) for m in state["metrics"]), "a list of mappings", source)
    for key in ("train_args", "trainer", "rng"):
        if key in state:
            _expect(state, key, isinstance(state[key], dict), "a mapping", source)


def _check_normalization(norm: Any, source: str) -> None:
    """{'mean': [...], 'std': [...]}: one finite number per channel, every std above zero."""
    if not isinstance(norm, dict) or not {"mean", "std"} <= set(norm):
        raise FFTKError(f"{source}: checkpoint field 'normalization' must be a mapping with "
                        f"'mean' and 'std', got {_describe(norm)}")
    for key in ("mean", "std"):
        values = norm[key]
        if not isinstance(values, list) or not values or not all(_finite(v) for v in values):
            raise FFTKError(f"{source}: checkpoint field 'normalization.{key}' must be a "
                            f"non-empty list of finite numbers, got {_describe(values)}")
    if len(norm["mean"]) != len(norm["std"]):
        raise FFTKError(f"{source}: checkpoint field 'normalization' has {len(norm['mean'])} "
                        f"means but {len(norm['std'])} stds")
    if any(v <= 0 for v in norm["std"]):
        raise FFTKError(f"{source}: checkpoint field 'normalization.std' must be above zero, "
                        f"got {norm['std']}")


def _expect(state: dict[str, Any], key: str, ok: bool, expected: str, source: str) -> None:
    if not ok:
        raise FFTKError(f"{source}: checkpoint field '{key}' must be {expected}, "
                        f"got {_describe(state[key])}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _describe(value: Any) -> str:
    """A short, one-line description of a bad value (never its whole repr)."""
    text = repr(value).replace("\n", " ")
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"

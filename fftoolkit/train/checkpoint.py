"""Checkpoints: one file that rebuilds the model with no flags, loaded without unpickling code.

Two formats:
- `.pt`: a torch file of tensors and plain containers (weights, optimiser and scheduler states,
  RNG state, metrics); always loaded with `torch.load(weights_only=True)`. Used to resume.
- `.safetensors`: weights only, with spec/classes/normalisation/metrics as JSON metadata.
  The format shipped in `models/weights/`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from fftoolkit.atomic import atomic_path
from fftoolkit.errors import FFTKError

FORMAT = "fftk-checkpoint"
VERSION = 1
META_KEYS = ("spec", "classes", "normalization", "metrics", "train_args")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write atomically, so a crash or Ctrl-C leaves the previous checkpoint intact."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            _save_safetensors(tmp, payload)
        else:
            torch.save(payload, tmp)


def _save_safetensors(tmp: Path, payload: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    meta = {k: json.dumps(payload[k]) for k in META_KEYS if k in payload}
    meta.update(format=FORMAT, version=str(VERSION))
    tensors = {k: v.contiguous() for k, v in payload["model"].items()}
    save_file(tensors, str(tmp), metadata=meta)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load either format; any damage becomes an `FFTKError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FFTKError(f"{path}: checkpoint not found")
    try:
        if path.suffix == ".safetensors":
            state = _load_safetensors(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FFTKError:
        raise
    except Exception as exc:  # damaged/truncated files surface as many exception types
        raise FFTKError(f"{path}: not a readable fftk checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise FFTKError(f"{path}: not an fftk checkpoint (no '{FORMAT}' marker)")
    for key in ("spec", "model", "classes", "normalization"):
        if key not in state:
            raise FFTKError(f"{path}: checkpoint is missing '{key}'")
    check_fields(state, str(path))
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
    if "train_args" in state:
        _expect(state, "train_args", isinstance(state["train_args"], dict), "a mapping", source)


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


def _load_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        model = {k: f.get_tensor(k) for k in f.keys()}
    state: dict[str, Any] = {k: json.loads(meta[k]) for k in META_KEYS if k in meta}
    state.update(format=meta.get("format"), version=int(meta.get("version", 0)), model=model)
    return state


def export_weights(src: str | Path, dst: str | Path) -> None:
    """Strip a training checkpoint to the shippable safetensors form (weights + metadata)."""
    state = load_checkpoint(src)
    save_checkpoint(dst, {k: state[k] for k in ("model", *META_KEYS) if k in state})

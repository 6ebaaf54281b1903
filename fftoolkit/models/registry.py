"""The model zoo: spec files in `models/` (or packaged as `fftoolkit/zoo`), built timm-style."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from fftoolkit.errors import FFTKError
from fftoolkit.models.nets import build_network
from fftoolkit.models.spec import ModelSpec, load_spec_file

if TYPE_CHECKING:
    from fftoolkit.models.checkpoint import Checkpoint


def zoo_dir() -> Path:
    """Spec folder: the wheel's packaged copy, else the repository's `models/` (editable)."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "zoo"
    return packaged if packaged.is_dir() else package.parent / "models"


@cache
def _zoo_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(zoo_dir().glob("*.yaml"))}


def list_models() -> list[str]:
    return list(_zoo_files())


def load_spec(name_or_path: str | Path) -> ModelSpec:
    """A zoo name (`ff_tiny`, case-insensitive) or a path to a spec file of one's own."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_spec_file(text)
    files = _zoo_files()
    key = text.lower()
    if key not in files:
        close = difflib.get_close_matches(key, files, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise FFTKError(f"unknown model '{text}'{hint} (see `fftk models`)")
    return load_spec_file(files[key])


def create_model(name_or_path: str | Path | ModelSpec) -> nn.Module:
    spec = name_or_path if isinstance(name_or_path, ModelSpec) else load_spec(name_or_path)
    return build_network(spec)


def weights_dir() -> Path:
    """Where shipped checkpoints live (`models/weights`)."""
    return zoo_dir() / "weights"


def build_network_from_state(ckpt: Checkpoint, source: str = "<checkpoint>") -> nn.Module:
    """Rebuild the network a checkpoint was trained with (its spec is inside) and load weights."""
    from fftoolkit.models.spec import spec_from_dict

    spec = spec_from_dict(ckpt.spec, source=f"{source} (embedded spec)")
    _check_fits_spec(ckpt, spec, source)
    net = build_network(spec)
    try:
        net.load_state_dict(ckpt.model)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "shape mismatch"
        raise FFTKError(f"{source}: weights do not fit model '{spec.name}' ({first})") from None
    return net.eval()


def _check_fits_spec(ckpt: Checkpoint, spec: ModelSpec, source: str) -> None:
    """One class name per model output and one mean/std per input channel, or say which not."""
    if len(ckpt.classes) != spec.num_classes:
        raise FFTKError(f"{source}: 'classes' lists {len(ckpt.classes)} names but model "
                        f"'{spec.name}' has {spec.num_classes} outputs")
    channels = spec.input[0]
    for key in ("mean", "std"):
        values = ckpt.normalization[key]
        if len(values) != channels:
            raise FFTKError(f"{source}: 'normalization.{key}' has {len(values)} values but "
                            f"model '{spec.name}' has {channels} input channels")

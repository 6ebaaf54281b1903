"""Specs that declare absurd sizes or wrong types fail in one line naming the key, before any
layer is built (a spec arrives from a YAML file, a checkpoint or a bundle: all untrusted)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from fftk_cli import fftk, one_line_error

from fftoolkit.errors import FFTKError
from fftoolkit.models import list_models, load_spec, spec_from_dict

IMPROVED = {"name": "x", "algorithm": "improved", "input": [3, 32, 32], "num_classes": 10,
            "blocks": [{"channels": 20, "kernel": 3}, {"channels": 20, "kernel": 3}]}
ORIGINAL = {"name": "y", "algorithm": "original", "input": [1, 28, 28], "num_classes": 10,
            "layers": [{"type": "linear", "units": 100}, {"type": "linear", "units": 100}]}


def _with(base: dict, path: str, value: object) -> dict:
    """A copy of `base` with the dotted `path` (list indices as numbers) set to `value`."""
    spec = copy.deepcopy(base)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = spec
    for key in parents:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[last] = value
    return spec


CASES = [
    (IMPROVED, "blocks.0.channels", 10**9, "'blocks[0].channels' = 1,000,000,000 is over"),
    (IMPROVED, "blocks.1.kernel", 999, "'blocks[1].kernel' = 999 is over the limit of 64"),
    (IMPROVED, "input", [3, 10**6, 32], "'input[1] (height)' = 1,000,000 is over the limit"),
    (IMPROVED, "input", [10**4, 32, 32], "'input[0] (channels)' = 10,000 is over the limit"),
    (IMPROVED, "input", "3x32x32", "'input' must be [C, H, W]"),
    (IMPROVED, "num_classes", 10**7, "'num_classes' = 10,000,000 is over the limit"),
    (IMPROVED, "num_classes", 2.5, "'num_classes' must be a positive integer, got 2.5"),
    (IMPROVED, "padding", 10**6, "'padding' must be an integer from 0 to 64"),
    (IMPROVED, "padding", True, "'padding' must be an integer"),
    (IMPROVED, "blocks", [{"channels": 10, "kernel": 1}] * 1000, "lists 1,000 blocks"),
    (IMPROVED, "blocks", [{"channels": 60_000, "kernel": 3}] * 3,
     "the model would hold about"),
    (IMPROVED, "input", [3, 4096, 4096], "'blocks[0]' outputs 335,544,320 values per image"),
    (ORIGINAL, "layers.0.units", 10**9, "'layers[0].units' = 1,000,000,000 is over the limit"),
    (ORIGINAL, "layers.0.units", 500_000, "the model would hold about 448,501,300 weights"),
    (ORIGINAL, "layers", [{"type": "linear", "units": 4}] * 300, "lists 300 layers"),
    (ORIGINAL, "ff", {"threshold": "high"}, "'ff.threshold' must be a finite number"),
    (IMPROVED, "train", {"epochs": 0}, "'train.epochs' must be a positive integer, got 0"),
    (IMPROVED, "train", {"epochs": "ten"}, "'train.epochs' must be a positive integer"),
    (IMPROVED, "train", {"batch_size": -1}, "'train.batch_size' must be a positive integer"),
    (IMPROVED, "train", {"lr": float("nan")}, "'train.lr' must be a finite number above 0"),
    (IMPROVED, "train", {"lr": "fast"}, "'train.lr' must be a finite number above 0"),
    (IMPROVED, "train", {"gamma": 3}, "'train.gamma' must be a number in (0, 1]"),
    (IMPROVED, "train", {"milestones": 5}, "'train.milestones' must be a list of epochs"),
    (IMPROVED, "train", {"milestones": [5, "x"]}, "'train.milestones' must be a positive"),
    (IMPROVED, "train", {"augment": "yes"}, "'train.augment' must be true, false or one of"),
    (IMPROVED, "train", {"lr_schedule": "linear"}, "'train.lr_schedule' must be one of step"),
    (IMPROVED, "train", {"loss": 3}, "'train.loss' must be a string"),
    (IMPROVED, "train", {"dataset": 7}, "'train.dataset' must be a string"),
]


@pytest.mark.parametrize("base,path,value,message", CASES,
                         ids=[f"{c[1]}={str(c[2])[:20]}" for c in CASES])
def test_spec_limits_and_types_name_the_key(base: dict, path: str, value: object,
                                            message: str) -> None:
    with pytest.raises(FFTKError) as raised:
        spec_from_dict(_with(base, path, value), source="my.yaml")
    text = str(raised.value)
    assert text.startswith("my.yaml: ") and message in text and "\n" not in text


def test_every_zoo_model_is_within_the_limits() -> None:
    for name in list_models():
        load_spec(name)


def test_model_weight_limit_is_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _with(ORIGINAL, "layers.0.units", 500_000)
    monkeypatch.setenv("FFTK_MAX_MODEL_PARAMS", "1000000000")
    assert spec_from_dict(spec).layers[0].units == 500_000


@pytest.mark.parametrize("path,value,message", [
    ("blocks.0.channels", 10**9, "'blocks[0].channels' = 1,000,000,000 is over the limit"),
    ("train", {"lr": "fast"}, "'train.lr' must be a finite number above 0"),
])
def test_train_with_a_hostile_spec_file_is_one_line(tmp_path: Path, path: str, value: object,
                                                    message: str) -> None:
    spec = tmp_path / "huge.yaml"
    spec.write_text(yaml.safe_dump(_with(IMPROVED, path, value)))
    line = one_line_error(fftk("train", spec, "--out", tmp_path / "run", timeout=120), message)
    assert line.startswith(f"error: {spec}: "), line
    assert not (tmp_path / "run").exists()  # nothing half-written

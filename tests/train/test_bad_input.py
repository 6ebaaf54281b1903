"""Every bad input to `fftk train` / `fftk eval` is one line on stderr naming the option or the
file and field, exit code 2, no traceback, nothing half-written and no input deleted.

The real CLI runs in a subprocess; the data is a tiny synthetic 28x28 grey tree, so nothing here
trains (every error comes before the first batch)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fftk_cli import fftk, one_line_error
from PIL import Image

from fftoolkit.errors import FFTKError
from fftoolkit.models import Checkpoint, create_model, load_checkpoint, load_spec, save_checkpoint
from fftoolkit.train import TrainConfig, train

MODEL = "ff_tiny_mnist"  # 1x28x28, 10 classes


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/<0..9>/ with 4 grey 28x28 PNGs each (10 % per class for val rounds to none)."""
    root = tmp_path_factory.mktemp("grey-tree")
    rng = np.random.default_rng(0)
    for k in range(10):
        folder = root / "train" / str(k)
        folder.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (28, 28), np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """A valid, untrained checkpoint state of MODEL (no training needed to test its metadata)."""
    spec = load_spec(MODEL)
    torch.manual_seed(0)
    return {"spec": spec.to_dict(), "model": create_model(spec).state_dict(),
            "classes": [str(k) for k in range(10)],
            "normalization": {"mean": [0.5], "std": [0.25]}, "metrics": [],
            "train_args": {"model": MODEL, "epochs": 1}}


@pytest.fixture(scope="module")
def ckpt(state: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    save_checkpoint(path, Checkpoint(**state))
    return path


# -- numbers and words the CLI refuses before anything is imported or created -------------

TRAIN_FLAGS = [
    (["--limit", "0"], "'--limit': 0 is not in the range x>=1"),
    (["--limit", "-5"], "'--limit': -5 is not in the range x>=1"),
    (["--batch-size", "-1"], "'--batch-size': -1 is not in the range x>=1"),
    (["--batch-size", "0"], "'--batch-size'"),
    (["--threads", "-1"], "'--threads': -1 is not in the range x>=1"),
    (["--threads", "abc"], "'--threads': 'abc' is not a valid integer"),
    (["--lr", "nan"], "'--lr': 'nan' is not a finite number above 0"),
    (["--lr", "inf"], "'--lr': 'inf' is not a finite number above 0"),
    (["--lr", "-0.1"], "'--lr': '-0.1' is not a finite number above 0"),
    (["--lr", "0"], "'--lr': '0' is not a finite number above 0"),
    (["--lr", "fast"], "'--lr': 'fast' is not a number"),
    (["--gamma", "0"], "'--gamma': '0' is not a finite number in (0, 1]"),
    (["--gamma", "1.5"], "'--gamma': '1.5' is not a finite number in (0, 1]"),
    (["--gamma", "nan"], "'--gamma': 'nan'"),
    (["--val-split", "abc"], "'--val-split': 'abc' is neither a count >= 0"),
    (["--val-split", "-1"], "'--val-split': '-1' is neither a count >= 0"),
    (["--val-split", "1.5"], "'--val-split': '1.5'"),
    (["--val-split", "nan"], "'--val-split': 'nan'"),
    (["--milestones", "garbage"], "'--milestones': expected comma-separated epochs >= 1"),
    (["--milestones", "5,-3"], "'--milestones'"),
    (["--milestones", "0"], "'--milestones'"),
    (["--epochs", "0"], "'--epochs': 0 is not in the range x>=1"),
    (["--epochs", "-2"], "'--epochs'"),
    (["--seed", "-1"], "'--seed': -1 is not in the range"),
    (["--seed", str(2**40)], "'--seed'"),
    (["--routine", "sideways"], "'--routine': 'sideways' is not one of"),
    (["--lr-schedule", "linear"], "'--lr-schedule': 'linear' is not one of 'step', 'cosine'"),
    (["--augment", "heavy"], "'--augment': 'heavy' is not one of 'none', 'basic', 'strong'"),
    (["--bogus"], "No such option '--bogus'"),
]


@pytest.mark.parametrize("flags,message", TRAIN_FLAGS, ids=[" ".join(f) for f, _ in TRAIN_FLAGS])
def test_train_refuses_bad_numbers(flags: list[str], message: str, tree: Path,
                                   tmp_path: Path) -> None:
    out = tmp_path / "run"
    line = one_line_error(fftk("train", MODEL, "--dataset", str(tree), "--out", str(out),
                               *flags))
    assert message in line and "fftk train --help" in line
    assert not out.exists()


EVAL_FLAGS = [
    (["--limit", "0"], "'--limit': 0 is not in the range x>=1"),
    (["--limit", "-1"], "'--limit': -1 is not in the range x>=1"),
    (["--val-split", "abc"], "'--val-split': 'abc'"),
    (["--val-split", "-0.5"], "'--val-split': '-0.5'"),
    (["--split", "everything"], "'--split': 'everything' is not one of"),
]


@pytest.mark.parametrize("flags,message", EVAL_FLAGS, ids=[" ".join(f) for f, _ in EVAL_FLAGS])
def test_eval_refuses_bad_numbers(flags: list[str], message: str, tree: Path, ckpt: Path) -> None:
    line = one_line_error(fftk("eval", str(ckpt), "--dataset", str(tree), *flags))
    assert message in line and "fftk eval --help" in line


def test_library_refuses_what_the_cli_refuses(tmp_path: Path) -> None:
    """TrainConfig from Python gets the same checks (epochs=0 used to mean the spec's 40)."""
    for bad in ({"epochs": 0}, {"lr": float("nan")}, {"gamma": 2.0}, {"limit": -1},
                {"threads": 0}, {"milestones": [3, -1]}, {"seed": -1}, {"device": "tpu"}):
        with pytest.raises(FFTKError, match="^--"):
            train(TrainConfig(model=MODEL, out=str(tmp_path / "run"), **bad), progress=False)
    assert not (tmp_path / "run").exists()


# -- checkpoint metadata of the wrong types ----------------------------------------------------

def _set(key: str, value: Any) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        state[key] = value
    return change


def _spec_channels(state: dict) -> None:
    state["spec"]["blocks"][0]["channels"] = 10**9


def _norm(key: str, value: Any) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        state["normalization"][key] = value
    return change


CHECKPOINT_CASES = [
    ("spec-not-a-dict", _set("spec", MODEL), "checkpoint field 'spec' must be a mapping"),
    ("classes-a-string", _set("classes", "0123456789"),
     "checkpoint field 'classes' must be a non-empty list of strings, got str"),
    ("classes-ints", _set("classes", list(range(10))), "field 'classes' must be a non-empty"),
    ("classes-short", _set("classes", ["a", "b", "c"]),
     "'classes' lists 3 names but model 'ff_tiny_mnist' has 10 outputs"),
    ("classes-long", _set("classes", [str(k) for k in range(12)]), "'classes' lists 12 names"),
    ("norm-a-list", _set("normalization", [0.5, 0.25]),
     "field 'normalization' must be a mapping with 'mean' and 'std'"),
    ("norm-std-text", _norm("std", ["wide"]), "field 'normalization.std' must be a non-empty "
     "list of finite numbers"),
    ("norm-mean-nan", _norm("mean", [float("nan")]), "field 'normalization.mean' must be"),
    ("norm-std-zero", _norm("std", [0.0]), "'normalization.std' must be above zero"),
    ("norm-3-channels", _set("normalization", {"mean": [0.1] * 3, "std": [0.2] * 3}),
     "'normalization.mean' has 3 values but model 'ff_tiny_mnist' has 1 input channels"),
    ("metrics-text", _set("metrics", "lots"), "field 'metrics' must be a list of mappings"),
    ("train-args-list", _set("train_args", [1]), "field 'train_args' must be a mapping"),
    ("model-not-tensors", _set("model", {"w": 1}), "field 'model' must be a mapping of names"),
    ("spec-huge-channels", _spec_channels,
     "(embedded spec): 'blocks[0].channels' = 1,000,000,000 is over the limit"),
]


@pytest.mark.parametrize("change,message", [c[1:] for c in CHECKPOINT_CASES],
                         ids=[c[0] for c in CHECKPOINT_CASES])
def test_eval_names_the_bad_checkpoint_field(change: Callable[[dict], None], message: str,
                                             state: dict[str, Any], tree: Path,
                                             tmp_path: Path) -> None:
    bad = copy.deepcopy(state)
    change(bad)
    path = tmp_path / "bad.pt"
    save_checkpoint(path, Checkpoint(**bad))  # dataclasses do not check types: a crafted file
    line = one_line_error(fftk("eval", str(path), "--dataset", str(tree), "--val-split", "1"))
    assert line.startswith(f"error: {path}") and message in line
    assert path.is_file()  # the input is never touched


# -- splits that end up empty, resumes of the wrong checkpoints, unwritable --out -------------

def test_empty_validation_split_is_refused_before_training(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    line = one_line_error(fftk("train", MODEL, "--dataset", str(tree), "--out", str(out),
                               "--epochs", "1"))
    assert "the validation split is empty" in line and "--val-split" in line
    assert not out.exists()


def test_val_split_taking_every_training_image(tree: Path, tmp_path: Path) -> None:
    line = one_line_error(fftk("train", MODEL, "--dataset", str(tree), "--out",
                               str(tmp_path / "run"), "--val-split", "4"))
    assert "val_split=4 takes all 4 training images of class '0'" in line
    assert not (tmp_path / "run").exists()


def test_eval_of_an_empty_split(tree: Path, ckpt: Path) -> None:
    line = one_line_error(fftk("eval", str(ckpt), "--dataset", str(tree), "--split", "val",
                               "--val-split", "0"))
    assert f"{tree}: the val split is empty" in line


def _resume_with(tmp_path: Path, state: dict[str, Any]) -> tuple[Path, str]:
    out = tmp_path / "run"
    out.mkdir()
    save_checkpoint(out / "last.pt", Checkpoint(**state))
    return out, one_line_error(fftk("train", MODEL, "--out", str(out), "--resume"))


def test_resume_of_a_weights_only_checkpoint(state: dict[str, Any], tmp_path: Path) -> None:
    out, line = _resume_with(tmp_path, state)
    assert f"{out / 'last.pt'}: checkpoint field 'trainer' is missing" in line
    assert load_checkpoint(out / "last.pt").classes == state["classes"]  # kept intact


@pytest.mark.parametrize("train_args,message", [
    ({"model": MODEL, "epochs": 1, "bogus": 1}, "is not a saved run (unknown key 'bogus')"),
    ({"model": MODEL}, "is not a saved run (missing 'model' or 'epochs')"),
    ({"model": MODEL, "epochs": -3}, "'train_args': --epochs must be a whole number >= 1"),
    ({"model": MODEL, "epochs": 2, "lr": "fast"}, "'train_args': --lr must be a finite number"),
])
def test_resume_with_bad_train_args(train_args: dict, message: str, state: dict[str, Any],
                                    tmp_path: Path) -> None:
    bad = {**copy.deepcopy(state), "train_args": train_args, "trainer": {}, "rng": {}}
    out, line = _resume_with(tmp_path, bad)
    assert f"{out / 'last.pt'}: checkpoint field 'train_args'" in line and message in line
    assert (out / "last.pt").is_file()


def test_out_is_a_file(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.write_text("not a run")
    line = one_line_error(fftk("train", MODEL, "--dataset", str(tree), "--out", str(out)))
    assert f"{out}: --out is a file" in line
    assert out.read_text() == "not a run"


def test_out_inside_a_file(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "run"
    line = one_line_error(fftk("train", MODEL, "--dataset", str(tree), "--out", str(out)))
    assert f"{out}: cannot create the run directory" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder(tree: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "run").mkdir()
    locked.chmod(0o555)
    (locked / "run").chmod(0o555)
    try:
        line = one_line_error(fftk("train", MODEL, "--dataset", str(tree), "--out",
                                   str(locked / "run")))
        assert "the run directory is not writable" in line
        line = one_line_error(fftk("train", MODEL, "--dataset", str(tree), "--out",
                                   str(locked / "new")))
        assert "cannot create the run directory" in line
    finally:
        (locked / "run").chmod(0o755)
        locked.chmod(0o755)

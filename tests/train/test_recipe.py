"""The recipe options of `fftk train`: --loss, --lr-schedule and --augment each change what
training does, are stored in the checkpoint, survive a resume exactly, and bad values are one
line (exit 2)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from fftk_cli import fftk, fftk_in_process, one_line_error
from interrupted import run_killed_in_epoch

from fftoolkit.errors import FFTKError
from fftoolkit.models import Checkpoint, create_model, load_checkpoint, load_spec, save_checkpoint
from fftoolkit.models.spec import AUGMENTS, LR_SCHEDULES
from fftoolkit.train import TrainConfig, train
from fftoolkit.train.augment import AUGMENTATIONS, cutout, random_crop_flip
from fftoolkit.train.loop import MACHINE_FIELDS, Trainer, _batch, _Data
from fftoolkit.train.schedule import COSINE_FLOOR, SCHEDULES

MODEL = "ff_tiny_mnist"


def make_trainer(**options) -> Trainer:
    torch.manual_seed(0)
    net = create_model(MODEL)
    return Trainer(net, TrainConfig(model=MODEL, **options).resolved(net.spec),
                   torch.device("cpu"))


def closed_form_cosine(lr: float, epochs: int, done: int) -> float:
    return lr * (COSINE_FLOOR + (1 - COSINE_FLOOR) * (1 + math.cos(math.pi * done / epochs)) / 2)


# -- --lr-schedule ------------------------------------------------------------------------------

def test_cosine_lr_follows_the_closed_form_for_every_block_and_the_head():
    trainer = make_trainer(lr_schedule="cosine", epochs=7, lr=0.002)
    for done in range(8):
        expected = closed_form_cosine(0.002, 7, done)
        lrs = [o.param_groups[0]["lr"] for o in [*trainer.optimizers, trainer.head_optimizer]]
        assert all(math.isclose(lr, expected, rel_tol=1e-12) for lr in lrs), (done, lrs)
        trainer.end_epoch()
    assert math.isclose(trainer.schedulers[0].get_last_lr()[0], 0.002 * COSINE_FLOOR)


def test_step_stays_the_default_schedule():
    trainer = make_trainer(epochs=4, milestones=[2], gamma=0.5)
    assert trainer.cfg.lr_schedule == "step"
    lrs = []
    for _ in range(4):
        lrs.append(trainer.head_optimizer.param_groups[0]["lr"])
        trainer.end_epoch()
    assert lrs == [0.001, 0.001, 0.0005, 0.0005]


def test_the_spec_the_cli_and_the_tables_name_the_same_choices():
    from fftoolkit.cli.train_cmd import train as command

    choices = {p.name: tuple(getattr(p.type, "choices", ())) for p in command.params}
    assert choices["lr_schedule"] == LR_SCHEDULES == tuple(SCHEDULES)
    assert choices["augment"] == AUGMENTS == tuple(AUGMENTATIONS)


# -- --loss --------------------------------------------------------------------------------------

def test_the_loss_changes_the_update():
    """One step from the same weights on the same batch: other losses, other weights."""
    x, y = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    results = {}
    for loss in ("cwc", "symba"):
        trainer = make_trainer(loss=loss)
        losses, _, _ = trainer.train_step(x, y, torch.Generator().manual_seed(0))
        results[loss] = (losses, [p.detach().clone() for p in trainer.net.units[0].parameters()])
    assert results["cwc"][0][0] != pytest.approx(results["symba"][0][0], rel=1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(results["cwc"][1], results["symba"][1],
                                                     strict=True))


# -- --augment ----------------------------------------------------------------------------------

def test_cutout_blanks_one_square_per_image_and_nothing_else():
    x = torch.rand(64, 3, 32, 32) + 0.5  # no zeros of its own
    out = cutout(x, torch.Generator().manual_seed(1))
    hole = out == 0
    assert torch.equal(hole.all(1), hole.any(1))  # every channel of a pixel, or none
    assert torch.equal(out[~hole], x[~hole])
    for h in hole[:, 0]:
        rows, cols = h.any(1).nonzero().flatten(), h.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8
        assert h.sum() == len(rows) * len(cols)  # one rectangle, cut by the border at most
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)
    assert (hole[:, 0].sum((1, 2)) == 64).float().mean() > 0.3  # most squares lie inside


def test_augmented_batches_differ_keep_their_labels_and_repeat_from_the_generator():
    images = torch.randint(0, 256, (32, 28, 28, 1), dtype=torch.uint8)
    data = _Data(images=images, labels=torch.arange(32) % 10, val=None, classes=[],
                 norm={"mean": [0.5], "std": [0.25]})
    idx = torch.randperm(32, generator=torch.Generator().manual_seed(0))[:16]
    batches = {}
    for augment in AUGMENTATIONS:
        trainer = make_trainer(augment=augment)
        x, y = _batch(data, idx, torch.Generator().manual_seed(5), trainer.cfg, trainer)
        again, _ = _batch(data, idx, torch.Generator().manual_seed(5), trainer.cfg, trainer)
        assert torch.equal(x, again)  # the run's generator decides: a resume repeats it
        assert torch.equal(y, data.labels[idx])
        batches[augment] = x
    assert not torch.equal(batches["none"], batches["basic"])
    assert not torch.equal(batches["basic"], batches["strong"])
    # strong = basic, then cutout, from the same draws: equal wherever cutout kept the pixel
    kept = batches["strong"] != 0
    assert torch.equal(batches["strong"][kept], batches["basic"][kept])
    assert (~kept).flatten(1).sum(1).min() > 0
    plain = random_crop_flip(batches["none"], torch.Generator().manual_seed(5))
    assert torch.equal(plain, batches["basic"])


def test_augment_flags_old_and_new(monkeypatch, capsys, tmp_path):
    """`--augment` alone and `--no-augment` keep their meaning; `--augment LEVEL` is new."""
    seen = []
    monkeypatch.setattr("fftoolkit.train.train", lambda cfg: seen.append(cfg.augment) or "x")
    for flags, level in ((["--augment"], "basic"), (["--no-augment"], "none"),
                         (["--augment", "strong"], "strong"), ([], None),
                         (["--augment", "--epochs", "2"], "basic")):
        result = fftk_in_process(capsys, "train", MODEL, "--out", tmp_path / "r", *flags)
        assert result.returncode == 0, result.stderr
        assert seen.pop() == level, flags
    one_line_error(fftk_in_process(capsys, "train", MODEL, "--out", tmp_path / "r",
                                   "--no-augment", "--augment", "strong"),
                   "--no-augment contradicts --augment strong")


def test_old_settings_still_read():
    """Specs and checkpoints from before `--augment none|basic|strong` hold true/false."""
    spec = load_spec(MODEL)
    assert TrainConfig(model=MODEL, augment=True).resolved(spec).augment == "basic"
    assert TrainConfig(model=MODEL).resolved(spec).augment == "none"  # the spec says false
    assert load_spec("ff_tiny").train.augment is True
    assert TrainConfig(model="ff_tiny").resolved(load_spec("ff_tiny")).augment == "basic"


# -- a real run: stored, resumed exactly, and refused when changed --------------------------



@pytest.mark.slow
def test_a_resumed_recipe_run_repeats_the_uninterrupted_one(shared_data, tmp_path, monkeypatch,
                                                            capsys):
    """SymBa + cosine + strong augmentation for 3 epochs, straight or stopped in epoch 2 and
    resumed: the same weights, metrics and LR sequence (the closed form); then a resume that
    would change the loss or the cosine span is one line."""
    common = dict(model=MODEL, dataset=str(shared_data / "mnist"), limit=96, batch_size=32,
                  threads=1, val_split=10, seed=2, epochs=3, loss="symba", lr_schedule="cosine",
                  augment="strong")
    straight = load_checkpoint(train(TrainConfig(**common, out=str(tmp_path / "a")),
                                     progress=False))
    assert {k: straight.train_args[k] for k in ("loss", "lr_schedule", "augment")} == \
        {"loss": "symba", "lr_schedule": "cosine", "augment": "strong"}
    assert [m["lr"] for m in straight.metrics] == pytest.approx(
        [closed_form_cosine(1e-3, 3, done) for done in (1, 2, 3)], rel=1e-12)

    run = tmp_path / "b"
    run_killed_in_epoch(monkeypatch, TrainConfig(**common, out=str(run)), 2)
    assert len(load_checkpoint(run / "last.pt").metrics) == 1
    resumed = load_checkpoint(train(TrainConfig(model=MODEL, out=str(run), resume=True),
                                    progress=False))
    for key, value in straight.model.items():
        assert torch.equal(value, resumed.model[key]), key
    strip = [[{k: v for k, v in m.items() if k not in MACHINE_FIELDS} for m in c.metrics]
             for c in (straight, resumed)]
    assert strip[0] == strip[1]

    one_line_error(fftk_in_process(capsys, "train", MODEL, "--out", run, "--resume", "--loss",
                                   "cwc"),
                   f"{run / 'last.pt'}: this run trains with --loss symba",
                   "(got --loss cwc)")
    one_line_error(fftk_in_process(capsys, "train", MODEL, "--out", run, "--resume", "--epochs",
                                   "4"),
                   f"{run / 'last.pt'}: cannot change --epochs from 3 to 4",
                   "--lr-schedule cosine")


# -- bad input -----------------------------------------------------------------------------------

def test_bad_recipe_values_are_one_line(tmp_path, capsys):
    """The real CLI once; the same entry point in this process for the rest (faster)."""
    out = tmp_path / "run"
    one_line_error(fftk("train", MODEL, "--out", out, "--loss", "hinge"),
                   "--loss must be one of cwc, symba for the improved FF, got 'hinge'")
    one_line_error(fftk_in_process(capsys, "train", "mnist_mlp", "--out", out, "--loss", "symba"),
                   "--loss must be one of ff for the original FF")
    one_line_error(fftk_in_process(capsys, "train", MODEL, "--out", out, "--lr-schedule",
                                   "cosine", "--milestones", "3"),
                   "--milestones and --gamma set the step LR schedule")
    assert not out.exists()


def test_the_library_refuses_what_the_cli_refuses(tmp_path):
    for bad, message in (({"loss": 3}, "--loss must be a loss name"),
                         ({"loss": "hinge"}, "--loss must be one of cwc, symba"),
                         ({"lr_schedule": "linear"}, "--lr-schedule must be one of step, cosine"),
                         ({"augment": "heavy"}, "--augment must be one of none, basic, strong")):
        with pytest.raises(FFTKError, match=message):
            train(TrainConfig(model=MODEL, out=str(tmp_path / "run"), **bad), progress=False)
    assert not (tmp_path / "run").exists()


def test_a_resume_refuses_another_recipe_before_loading_data(tmp_path, capsys):
    """The saved settings win; another --loss, --augment or --lr-schedule is refused (runs
    from before these options stored neither loss nor schedule, and augment as true/false)."""
    spec = load_spec(MODEL)
    out = tmp_path / "run"
    out.mkdir()
    state = {"spec": spec.to_dict(), "model": create_model(spec).state_dict(),
             "classes": [str(k) for k in range(10)], "normalization": {"mean": [0.5],
                                                                       "std": [0.25]},
             "metrics": [], "trainer": {}, "rng": {},
             "train_args": {"model": MODEL, "epochs": 1, "augment": True}}
    save_checkpoint(out / "last.pt", Checkpoint(**copy.deepcopy(state)))
    ckpt = out / "last.pt"
    for flags, saved in ((["--loss", "symba"], "--loss cwc"),
                         (["--augment", "strong"], "--augment basic"),
                         (["--no-augment"], "--augment basic"),
                         (["--lr-schedule", "cosine"], "--lr-schedule step")):
        one_line_error(fftk_in_process(capsys, "train", MODEL, "--out", out, "--resume", *flags),
                       f"{ckpt}: this run trains with {saved}; a resume cannot change it")
    assert json.dumps(load_checkpoint(ckpt).train_args) == json.dumps(state["train_args"])

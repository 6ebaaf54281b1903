"""Short real trainings on MNIST: learning happens, resume is exact, bad input is refused."""

import json

import numpy as np
import pytest
import torch
from fftk_cli import fftk, one_line_error

from fftoolkit.data import load_dataset
from fftoolkit.ff.predict import predict_both
from fftoolkit.models import build_network_from_state, load_checkpoint
from fftoolkit.train import TrainConfig, evaluate_checkpoint, train
from fftoolkit.train.loop import MACHINE_FIELDS


@pytest.fixture(scope="module")
def mnist(shared_data):
    return str(shared_data / "mnist")




def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_improved_ff_learns_on_real_mnist(mnist, tmp_path):
    run = tmp_path / "cnn"
    ckpt = train(TrainConfig(model="ff_tiny_mnist", dataset=mnist, out=str(run), epochs=2,
                             limit=1200, batch_size=64, threads=2, val_split=50),
                 progress=False)
    m = metrics(run)
    assert len(m) == 2
    assert sum(m[1]["loss_per_block"]) < sum(m[0]["loss_per_block"])
    assert m[1]["val_one_pass_error"] < 40 and m[1]["val_multi_pass_error"] < 50  # chance: 90
    result = evaluate_checkpoint(ckpt, mnist, split="test", limit=2000)
    assert result.n == 2000 and result.one_pass_error < 40
    # both inference modes read the same trained blocks: they mostly agree
    state = load_checkpoint(ckpt)
    net = build_network_from_state(state)
    ds = load_dataset(mnist, "val", val_split=50)
    one, multi = predict_both(net, ds.images, **state.normalization)
    assert one.shape == multi.shape == (500,)
    assert (one == multi).mean() > 0.6


@pytest.mark.slow
def test_original_ff_mlp_learns_on_real_mnist(mnist, tmp_path):
    run = tmp_path / "mlp"
    # multi-pass needs ~40k image presentations before the label-gating settles
    train(TrainConfig(model="mnist_mlp", dataset=mnist, out=str(run), epochs=2, limit=20000,
                      batch_size=100, lr=0.002, threads=2, val_split=50), progress=False)
    m = metrics(run)
    assert sum(m[1]["loss_per_block"]) < sum(m[0]["loss_per_block"])
    assert m[1]["val_one_pass_error"] < 30 and m[1]["val_multi_pass_error"] < 40


def test_resume_equals_uninterrupted(mnist, tmp_path):
    common = dict(model="ff_tiny_mnist", dataset=mnist, limit=256, batch_size=32, threads=1,
                  milestones=[1], gamma=0.5, seed=3, val_split=20)
    straight = train(TrainConfig(**common, out=str(tmp_path / "a"), epochs=2), progress=False)
    train(TrainConfig(**common, out=str(tmp_path / "b"), epochs=1), progress=False)
    resumed = train(TrainConfig(model="ff_tiny_mnist", out=str(tmp_path / "b"), epochs=2,
                                resume=True), progress=False)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert a.trainer["step"] == b.trainer["step"]
    for key, value in a.model.items():
        assert torch.equal(value, b.model[key]), key
    strip = [{k: v for k, v in m.items() if k not in MACHINE_FIELDS}
             for m in (a.metrics, b.metrics)[0]]
    assert strip == [{k: v for k, v in m.items() if k not in MACHINE_FIELDS}
                     for m in b.metrics]


def test_resume_runs_on_the_threads_given_and_keeps_the_data(mnist, tmp_path):
    """--threads and --device are the invocation's (a resume may move to a bigger machine);
    the training images (--limit, --val-split) are the run's: another value is refused."""
    from fftoolkit.errors import FFTKError

    common = dict(model="ff_tiny_mnist", out=str(tmp_path / "run"), val_split=20)
    train(TrainConfig(**common, dataset=mnist, epochs=1, limit=64, batch_size=32, threads=1),
          progress=False)
    before = torch.get_num_threads()
    try:
        ckpt = train(TrainConfig(**common, epochs=2, threads=2, resume=True), progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    state = load_checkpoint(ckpt)
    assert len(state.metrics) == 2 and state.train_args["threads"] == 2
    assert state.train_args["limit"] == 64
    for changed, flag in ((dict(limit=128), "--limit"), (dict(val_split=30), "--val-split")):
        with pytest.raises(FFTKError, match=f"cannot change it \\(got {flag}"):
            train(TrainConfig(**{**common, **changed}, epochs=3, resume=True), progress=False)


def test_training_refuses_to_overwrite_and_eval_refuses_misfit_data(mnist, tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(model="ff_tiny_mnist", dataset=mnist, out=str(out), epochs=1, limit=64,
                      batch_size=32, threads=1, val_split=20), progress=False)
    one_line_error(fftk("train", "ff_tiny_mnist", "--dataset", mnist, "--out", out,
                        "--epochs", "1"), "--resume")
    # a 28x28x1 model cannot evaluate 32x32x3 images
    tree = tmp_path / "rgb" / "val"
    for c in ("a", "b"):
        (tree / c).mkdir(parents=True)
        from PIL import Image

        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tree / c / "0.png")
    one_line_error(fftk("eval", out / "last.pt", "--dataset", tmp_path / "rgb", "--split", "val"),
                   "expects (28, 28, 1)")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes((out / "last.pt").read_bytes()[:1000])
    one_line_error(fftk("eval", damaged, "--dataset", mnist), "damaged.pt")


def test_checkpoint_of_another_model_is_refused(mnist, tmp_path):
    from fftoolkit.errors import FFTKError
    from fftoolkit.models import save_checkpoint

    out = tmp_path / "run"
    ckpt = train(TrainConfig(model="ff_tiny_mnist", dataset=mnist, out=str(out), epochs=1,
                             limit=64, batch_size=32, threads=1, val_split=20), progress=False)
    state = load_checkpoint(ckpt)
    state.spec["blocks"][0]["channels"] = 20  # weights no longer fit the declared model
    save_checkpoint(tmp_path / "other.pt", state)
    with pytest.raises(FFTKError, match="do not fit"):
        evaluate_checkpoint(tmp_path / "other.pt", mnist, val_split=20)


def test_a_run_directory_has_one_writer(mnist, tmp_path):
    from fftoolkit.train.runlock import run_lock

    out = tmp_path / "run"
    with run_lock(out):  # as if another `fftk train` were writing it
        busy = fftk("train", "ff_tiny_mnist", "--dataset", mnist, "--out", out, "--epochs", "1")
    one_line_error(busy, "another `fftk train`")
    one_line_error(fftk("train", "ff_tiny_mnist", "--dataset", mnist, "--out", tmp_path / "new",
                        "--resume"), "nothing to resume")
    assert not (tmp_path / "new").exists()  # a failed start leaves no run directory behind

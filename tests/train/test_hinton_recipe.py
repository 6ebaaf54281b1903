"""The pieces of Hinton's MNIST recipe (`models/mnist_mlp_hinton.yaml`): peer normalisation, the
straight-through ReLU gradient, SGD with weight decay and its own head LR, the linear cool-down;
each does what it says, survives a resume exactly, and a bad value in a spec is one line."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from fftk_cli import fftk, one_line_error
from interrupted import run_killed_in_epoch

from fftoolkit.errors import FFTKError
from fftoolkit.ff.objectives import make_objective
from fftoolkit.ff.peer import START, PeerNormalization
from fftoolkit.models import create_model, load_checkpoint, load_spec
from fftoolkit.models.spec import spec_from_dict
from fftoolkit.train import TrainConfig, train
from fftoolkit.train.loop import MACHINE_FIELDS, Trainer

HINTON = "mnist_mlp_hinton"


def small_hinton_spec(tmp_path, **train_overrides) -> str:
    """The shipped recipe on 2 x 64 units (fast); a spec file, as a user would write one."""
    spec = load_spec(HINTON).to_dict()
    spec["name"] = "hinton_small"
    spec["layers"] = [{"type": "linear", "units": 64}, {"type": "linear", "units": 64}]
    spec["ff"]["threshold"] = 64.0
    spec["train"].update(train_overrides)
    path = tmp_path / "hinton_small.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def make_trainer(model: str, **options) -> Trainer:
    torch.manual_seed(0)
    net = create_model(model)
    return Trainer(net, TrainConfig(model=model, **options).resolved(net.spec),
                   torch.device("cpu"))


# -- peer normalisation ---------------------------------------------------------------------------

def test_peer_loss_is_zero_for_equal_units_and_evens_them_out():
    peer = PeerNormalization([4])
    assert peer.loss(0, torch.full((8, 4), START)).item() == 0.0
    activity = torch.tensor([[0.0, 1.0, 2.0, 5.0]] * 8, requires_grad=True)
    loss = peer.loss(0, activity)
    assert loss.item() > 0
    loss.backward()
    # the most active unit is pushed down, the least active up
    assert activity.grad[:, 3].sum() > 0 > activity.grad[:, 0].sum()
    # the running means moved 10 % of the way to this batch's means, and are saved/restored
    expected = 0.9 * START + 0.1 * torch.tensor([0.0, 1.0, 2.0, 5.0])
    assert torch.allclose(peer.state()[0], expected)
    other = PeerNormalization([4])
    other.load_state(peer.state())
    assert torch.equal(other.means[0], peer.means[0])
    with pytest.raises(ValueError):
        other.load_state([torch.zeros(3)])


def test_the_objective_adds_peer_loss_only_when_the_spec_asks(tmp_path):
    with_peer = create_model(small_hinton_spec(tmp_path))
    without = create_model("mnist_mlp")
    assert make_objective(with_peer).peer is not None and make_objective(without).peer is None
    objective = make_objective(with_peer)
    out = torch.rand(2 * 5, 64)
    labels = torch.arange(5)
    bare = objective.loss(*[(out ** 2).sum(1)[s] for s in (slice(0, 5), slice(5, 10))], 64.0)
    assert objective.block_loss(out, labels, 0) > bare  # unequal units: a peer term on top


# -- straight-through ReLU ------------------------------------------------------------------------

def test_straight_through_relu_passes_every_gradient_in_training_only(tmp_path):
    net = create_model(small_hinton_spec(tmp_path))
    weight = net.layers[0][1].weight
    x = torch.randn(16, 1, 28, 28)
    h = net.forward_unit(0, x)
    assert (h == 0).any()  # some units are silent for some samples
    with torch.no_grad():
        assert torch.equal(net.eval().forward_unit(0, x), h.detach())  # same values either way
    net.train()
    h.sum().backward()
    straight_through, weight.grad = weight.grad.clone(), None
    # identity backward: d sum(h) / dW[u] = the sum of the normalised inputs, for every unit u
    inputs = x.flatten(1) / x.flatten(1).pow(2).mean(1, keepdim=True).sqrt()
    assert torch.allclose(straight_through, inputs.sum(0).expand_as(weight), atol=1e-3)
    net.straight_through = False  # the standard ReLU: silent units pass no gradient
    net.forward_unit(0, x).sum().backward()
    assert not torch.allclose(weight.grad, straight_through, atol=1e-3)


def test_normal_init_scales_weights_by_fan_in(tmp_path):
    """ff.init: normal draws N(0, 1/fan_in) weights and zero biases (seeded like the default)."""
    spec = yaml.safe_load(open(small_hinton_spec(tmp_path)))
    spec["ff"]["init"] = "normal"
    torch.manual_seed(0)
    net = create_model(spec_from_dict(spec))
    linears = [m for m in net.layers.modules() if isinstance(m, torch.nn.Linear)]
    for linear, fan_in in zip(linears, (784, 64), strict=True):
        assert abs(float(linear.weight.detach().std()) * fan_in ** 0.5 - 1.0) < 0.05
        assert not linear.bias.any()
    torch.manual_seed(0)
    again = create_model(spec_from_dict(spec))
    assert torch.equal(again.state_dict()["layers.1.0.weight"], linears[1].weight)


# -- optimiser and schedule -----------------------------------------------------------------------

def test_sgd_weight_decay_and_the_heads_own_lr_come_from_the_spec(tmp_path):
    trainer = make_trainer(small_hinton_spec(tmp_path))
    t = trainer.net.spec.train
    for opt in trainer.optimizers:
        group = opt.param_groups[0]
        assert isinstance(opt, torch.optim.SGD)
        assert (group["lr"], group["momentum"], group["weight_decay"]) == \
            (t.lr, t.momentum, t.weight_decay)
    head = trainer.head_optimizer.param_groups[0]
    assert (head["lr"], head["weight_decay"]) == (t.head_lr, t.head_weight_decay) == (0.01, 0.003)
    plain = make_trainer("mnist_mlp")
    assert isinstance(plain.head_optimizer, torch.optim.Adam)
    assert plain.head_optimizer.param_groups[0]["lr"] == plain.cfg.lr


def test_linear_cooldown_holds_then_falls_to_zero_for_blocks_and_head(tmp_path):
    trainer = make_trainer(small_hinton_spec(tmp_path), epochs=6)
    t = trainer.net.spec.train
    factors = []
    for _ in range(6):
        factors.append([o.param_groups[0]["lr"] / base for o, base in
                        zip([*trainer.optimizers, trainer.head_optimizer],
                            [t.lr] * 2 + [t.head_lr], strict=True)])
        trainer.end_epoch()
    expected = [1, 1, 1, 1, 2 / 3, 1 / 3]  # epochs 0..5 of 6
    for got, want in zip(factors, expected, strict=True):
        assert all(math.isclose(f, want, rel_tol=1e-12) for f in got), (got, want)


# -- a real run -----------------------------------------------------------------------------------



@pytest.mark.slow
def test_the_recipe_learns_and_resumes_exactly(shared_data, tmp_path, monkeypatch):
    """2 epochs straight, or stopped in epoch 2 and resumed: the same weights, peer-normalisation
    means and metrics; the cool-down's span is fixed when the run starts."""
    model = small_hinton_spec(tmp_path)
    common = dict(model=model, dataset=str(shared_data / "mnist"), limit=3000, threads=1,
                  val_split=20, seed=1, epochs=2)
    straight = load_checkpoint(train(TrainConfig(**common, out=str(tmp_path / "a")),
                                     progress=False))
    first, last = straight.metrics
    assert last["val_one_pass_error"] < 50  # chance: 90 (60 SGD steps: goodness lags behind)
    assert all(b < a for a, b in zip(first["loss_per_block"], last["loss_per_block"],
                                      strict=True))

    run = tmp_path / "b"
    run_killed_in_epoch(monkeypatch, TrainConfig(**common, out=str(run)), 2)
    with pytest.raises(FFTKError, match="cannot change --epochs from 2 to 3"):
        train(TrainConfig(model=model, out=str(run), epochs=3, resume=True), progress=False)
    resumed = load_checkpoint(train(TrainConfig(model=model, out=str(run), resume=True),
                                    progress=False))
    for key, value in straight.model.items():
        assert torch.equal(value, resumed.model[key]), key
    for a, b in zip(*(c.trainer["objective"]["peer_means"] for c in (straight, resumed)),
                    strict=True):
        assert a.shape == (64,) and torch.equal(a, b)
    strip = [[{k: v for k, v in m.items() if k not in MACHINE_FIELDS} for m in c.metrics]
             for c in (straight, resumed)]
    assert strip[0] == strip[1]


def test_bad_recipe_values_in_a_spec_are_one_line(tmp_path):
    spec = load_spec(HINTON).to_dict()
    for where, key, value, message in (
            ("train", "optimizer", "rmsprop", "'train.optimizer' must be one of adam, sgd"),
            ("train", "weight_decay", -1, "'train.weight_decay' must be a finite number >= 0"),
            ("train", "head_lr", float("nan"), "'train.head_lr' must be a finite number >= 0"),
            ("train", "lr_schedule", "linear", "'train.lr_schedule' must be one of step, cosine, "
                                               "linear-cooldown"),
            ("ff", "peer_normalization", "lots", "'ff.peer_normalization' must be a finite"),
            ("ff", "relu_gradient", "leaky", "'ff.relu_gradient' must be one of standard, "
                                             "straight-through"),
            ("ff", "init", "xavier", "'ff.init' must be one of torch, normal")):
        bad = {**spec, where: {**spec[where], key: value}}
        with pytest.raises(FFTKError, match=message):
            spec_from_dict(bad, source="bad.yaml")
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump(bad))
    one_line_error(fftk("train", str(tmp_path / "optimizer.yaml"), "--out", tmp_path / "run"),
                   "optimizer.yaml: 'train.optimizer' must be one of adam, sgd")
    assert not (tmp_path / "run").exists()

import torch

from fftoolkit.models import create_model
from fftoolkit.train.loop import TrainConfig, Trainer


class OnlyLastBlockLoss:
    """Wraps an objective so that only the last block's loss (FF_tiny: 7x7 maps) is non-zero."""

    def __init__(self, inner):
        self.inner = inner

    def inputs(self, x, labels, generator):
        return self.inner.inputs(x, labels, generator)

    def part(self, inputs, n, rows):
        return self.inner.part(inputs, n, rows)

    def block_loss(self, out, labels, block):
        loss = self.inner.block_loss(out, labels, block)
        return loss if out.shape[-1] == 7 else loss * 0.0

    def head_logits(self, x, feats):
        return self.inner.head_logits(x, feats)


def grad_norms(net):
    return [sum(float(p.grad.abs().sum()) if p.grad is not None else 0.0
                for p in block.parameters()) for block in net.blocks]


def make_trainer(routine):
    torch.manual_seed(0)
    net = create_model("ff_tiny")
    cfg = TrainConfig(model="ff_tiny", routine=routine).resolved(net.spec)
    trainer = Trainer(net, cfg, torch.device("cpu"))
    trainer.objective = OnlyLastBlockLoss(trainer.objective)
    return net, trainer


def test_chunk_boundaries_stop_gradients_and_alternate():
    net, trainer = make_trainer("chunked")
    x, y, gen = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)), torch.Generator()
    trainer.train_step(x, y, gen)  # even step: chunks (0,1)(2,3)
    g = grad_norms(net)
    assert g[3] > 0 and g[2] > 0, "block 2 shares block 3's chunk on even steps"
    assert g[0] == 0 and g[1] == 0, "gradient leaked across the chunk boundary"
    trainer.train_step(x, y, gen)  # odd step: chunks (0)(1,2)(3)
    g = grad_norms(net)
    assert g[3] > 0 and g[2] == 0 and g[1] == 0 and g[0] == 0


def test_greedy_updates_only_the_block_with_the_loss():
    net, trainer = make_trainer("greedy")
    trainer.train_step(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)), torch.Generator())
    g = grad_norms(net)
    assert g[3] > 0 and g[:3] == [0, 0, 0]


def test_head_gets_no_gradient_into_blocks():
    torch.manual_seed(0)
    net = create_model("ff_tiny")
    cfg = TrainConfig(model="ff_tiny").resolved(net.spec)
    trainer = Trainer(net, cfg, torch.device("cpu"))
    before = [p.clone() for p in net.head.parameters()]
    _, logits, feats = trainer.train_step(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,)),
                                          torch.Generator())
    assert logits.shape == (8, 10) and len(feats) == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, net.head.parameters(), strict=True))
    assert all(not f.requires_grad for f in feats)

"""`--parallel blocks`: FF's block pipeline. Each rank owns a contiguous group of blocks (the
last rank also the one-pass head) and steps them with its own optimisers; a micro-batch (one
batch of the run) flows rank to rank as the detached output of a rank's last block, with its
labels. Nothing is ever sent backward: FF's losses are local, and the chunks are cut at the
rank boundaries (`fftoolkit.ff.chunk_schedule(cuts=...)`), so no rank needs another's gradient.

Why the pipeline changes nothing but the cut (no staleness): in one process, a chunk's input is
the previous chunk's output as computed in this step *before* that chunk's optimiser step, i.e.
by weights that have seen steps 0..t-1. In the pipeline, rank k works on micro-batch t with its
weights after t-1 updates, and the activations it receives for t were computed by rank k-1 with
its weights after t-1 updates, however far rank k-1 has run ahead since (it only ever runs
ahead: sends are asynchronous, one in flight). So N ranks compute exactly what one process
computes with `--pipeline-stages N` (the same cut schedule); `tests/train/test_pipeline.py`
compares the weights. BatchNorm is per block, so it sees the whole batch on its owner.

Only the first rank draws (shuffle, augmentation, negatives): its generator is the run's, and
the one a checkpoint keeps. At each epoch's end (collectives, not training messages) every
rank broadcasts its blocks' weights and buffers (the last rank the head's), so the ranks split
validation as in data mode, and rank 0 gathers every optimiser state for the checkpoint.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from fftoolkit.errors import FFTKError
from fftoolkit.ff import stage_blocks
from fftoolkit.ff.family import family_of
from fftoolkit.train.distributed import World, collective

MESSAGE_LOG_ENV = "FFTK_TEST_MESSAGE_LOG"  # a folder: each rank writes rank<R>.json at the end
_DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.int64]
HEADER = 32  # int64 slots: count, then per tensor dtype, ndim, dims


class Link:
    """Point-to-point messages between neighbouring ranks, counted by (sender, receiver) so a
    test can check that nothing goes backward. A message is a list of tensors, preceded by a
    header with their dtypes and shapes (the last batch of an epoch is smaller). The world
    counts the bytes sent (`World.isend`), header included (HEADER int64s a message)."""

    def __init__(self, world: World, device: torch.device):
        self.world, self.rank = world, world.rank
        self.device = device
        self.sent: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        self._pending: list[Any] = []  # the send in flight and the tensors it reads

    def send(self, tensors: list[torch.Tensor], dst: int) -> None:
        """Start sending; returns at once unless the previous message is still in flight."""
        self.flush()
        header = [len(tensors)]
        for t in tensors:
            header += [_DTYPES.index(t.dtype), t.dim(), *t.shape]
        assert len(header) <= HEADER, "message header too long"
        msg = [torch.tensor(header + [0] * (HEADER - len(header)), dtype=torch.int64,
                            device=self.device), *(t.contiguous() for t in tensors)]
        self._pending = [(self.world.isend(t, dst), t) for t in msg]
        self.sent[f"{self.rank}->{dst}"] += 1

    def recv(self, src: int) -> list[torch.Tensor]:
        header = torch.empty(HEADER, dtype=torch.int64, device=self.device)
        with collective(self.rank):
            dist.recv(header, src)
            values, out, at = header.tolist(), [], 1
            for _ in range(values[0]):
                dtype, ndim = _DTYPES[values[at]], values[at + 1]
                shape = values[at + 2:at + 2 + ndim]
                at += 2 + ndim
                out.append(torch.empty(shape, dtype=dtype, device=self.device))
                dist.recv(out[-1], src)
        self.received[f"{src}->{self.rank}"] += 1
        return out

    def flush(self) -> None:
        with collective(self.rank):
            for work, _ in self._pending:
                work.wait()
        self._pending = []

    def log(self) -> None:
        """Test hook (MESSAGE_LOG_ENV): this rank's message counts, as JSON."""
        folder = os.environ.get(MESSAGE_LOG_ENV)
        if folder:
            Path(folder, f"rank{self.rank}.json").write_text(
                json.dumps({"sent": dict(self.sent), "received": dict(self.received)}))


class Pipeline:
    """This rank's stage of the block pipeline and its link to the neighbouring stages."""

    def __init__(self, trainer: Any, world: World):
        self.trainer, self.world = trainer, world
        n = len(trainer.net.units)
        self.owners = [s for s in range(world.size) for _ in stage_blocks(n, world.size, s)]
        trainer.blocks = stage_blocks(n, world.size, world.rank)
        trainer.has_head = self.last
        trainer.cuts = tuple(stage_blocks(n, world.size, s).start for s in range(1, world.size))
        self.link = Link(world, trainer.device)

    @property
    def first(self) -> bool:
        return self.world.rank == 0

    @property
    def last(self) -> bool:
        return self.world.rank == self.world.size - 1

    def step(self, x: torch.Tensor | None, labels: torch.Tensor | None,
             generator: torch.Generator
             ) -> tuple[list[float], torch.Tensor | None, list[torch.Tensor | None],
                        torch.Tensor]:
        """One micro-batch through this stage: receive (but on the first rank), train, send
        on (but from the last). Returns the trainer's step results and the labels."""
        received = None
        if not self.first:
            labels, received = self.link.recv(self.world.rank - 1)
            if received.dim() == 4:  # sent packed; the layout one process has (conv kernels)
                received = received.contiguous(memory_format=self.trainer.memory_format)
        assert labels is not None
        losses, logits, feats = self.trainer.train_step(x, labels, generator, received=received)
        if not self.last:
            self.link.send([labels, feats[self.trainer.blocks.stop - 1]], self.world.rank + 1)
        return losses, logits, feats, labels

    def end_epoch(self) -> None:
        """Every rank gets every block's weights and buffers (for validation, split over the
        ranks); rank 0 also every optimiser state (for the checkpoint)."""
        self.link.flush()
        net, trainer = self.trainer.net, self.trainer
        for i, unit in enumerate(net.units):
            _broadcast(unit, self.owners[i], self.world.rank)
        _broadcast(net.head, self.world.size - 1, self.world.rank)
        mine = {i: trainer.optimizers[i].state_dict() for i in trainer.blocks}
        head = trainer.head_optimizer.state_dict() if self.last else None
        gathered: list[Any] = [None] * self.world.size if self.world.is_main else []
        with collective(self.world.rank):
            dist.gather_object(_to_cpu((mine, head)), gathered if self.world.is_main else None,
                               dst=0)
        if self.world.is_main:
            for states, head_state in gathered:
                for i, state in states.items():
                    trainer.optimizers[i].load_state_dict(state)
                if head_state is not None:
                    trainer.head_optimizer.load_state_dict(head_state)

    def close(self) -> None:
        self.link.flush()
        self.link.log()


def _broadcast(module: torch.nn.Module, src: int, rank: int) -> None:
    for t in module.state_dict().values():
        with collective(rank):
            dist.broadcast(t, src=src)


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def check_blocks(spec: Any, world: World, pipeline_stages: int, ghost_batches: int) -> None:
    """What blocks mode (or its one-process reference) can run; one line otherwise."""
    ranks = max(world.size, pipeline_stages)
    if not family_of(spec).block_pipeline:
        raise FFTKError(f"--parallel blocks: {spec.name} is an {spec.algorithm}-FF model, "
                        "whose head reads a neutral-label pass through every layer; "
                        "use --parallel data")
    num_blocks = len(spec.blocks)
    if world.size > 1 and pipeline_stages > 1:
        raise FFTKError("--pipeline-stages is the single-process reference of blocks mode; "
                        "leave it out when running on several ranks")
    if ghost_batches > 1:
        raise FFTKError("--ghost-batches is data mode's reference; blocks mode sees each "
                        "batch whole")
    if ranks > num_blocks:
        raise FFTKError(f"--parallel blocks: {ranks} ranks but {spec.name} has {num_blocks} "
                        f"blocks; each rank needs a block of its own (use at most "
                        f"{num_blocks} ranks, or --parallel data)")


def check_resume(metrics: list[dict[str, Any]], world: World) -> None:
    """A blocks-mode run continues in blocks mode on as many ranks (its chunk cuts), or on one
    process (which reads the whole checkpoint); `metrics` are the saved run's rows."""
    stages = metrics[-1].get("pipeline_stages", 1) if metrics else 1
    if world.size > 1 and stages > 1 and stages != world.size:
        raise FFTKError(f"this run was trained in blocks mode on {stages} ranks; resume it "
                        f"on {stages} ranks (--nproc {stages}) or on one process, not on "
                        f"{world.size}")

"""Training on several processes: who this process is, the process group, which rows of a batch
it computes, what crosses between ranks, and how one rank's failure reaches the others.

The loop asks a `World` and never tests the world size itself, so a single process is the
one-rank world; blocks mode (`--parallel blocks`: FF's block pipeline, `pipeline.py`) splits
the same steps by blocks instead of rows, over the same process group.

Data mode is an explicit all-reduce of each chunk's gradients, not DistributedDataParallel:
FF steps every chunk of blocks (and the head) with its own backward and optimiser step inside
one iteration, while DDP syncs once per backward of one wrapped forward. Averaging a chunk's
gradients right after its backward is exactly what one process would compute on the whole
batch when BatchNorm sees each rank's rows apart (`TrainConfig.ghost_batches`).

What crosses for training goes through `World.all_reduce` and `World.isend`, which count the
payload this rank contributes (`World.sent_bytes`): data mode's gradient and BatchNorm averages,
blocks mode's activations and labels. Not counted: bookkeeping (metric sums, start-up checks)
and the copies that let every rank validate and rank 0 save (`broadcast_state`, blocks mode's
epoch-end broadcasts), which one process would not need.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from fftoolkit.errors import FFTKError

PARALLEL_MODES = ("data", "blocks")
BACKENDS = ("gloo", "nccl")
# The longest a rank waits for another in a collective: a hung peer ends the run, not the
# machine's patience. A peer that dies is noticed sooner, by its launcher (it stops the rest).
COLLECTIVE_TIMEOUT = timedelta(seconds=60)
STARTUP_TIMEOUT = timedelta(minutes=30)  # data loading and decode caches differ per rank
TEST_EXIT_ENV = "FFTK_TEST_RANK_EXIT"  # "RANK:STEPS": that rank dies (os._exit) after STEPS
LAUNCHER_ENV = "FFTK_LAUNCHER"  # set by `fftk train --nproc`: it reports a lost rank itself
LOST_PEER_EXIT = 3  # a rank whose collective failed because another rank is gone


class LostPeer(FFTKError):
    """A collective failed: another rank died or hung (the launcher names which)."""

    exit_code = LOST_PEER_EXIT

    def __init__(self, message: str):
        super().__init__(message)
        self.quiet = os.environ.get(LAUNCHER_ENV) == "1"


@contextmanager
def collective(rank: int) -> Iterator[None]:
    """gloo and NCCL raise a bare RuntimeError when a peer closes or times out: one line."""
    try:
        yield
    except RuntimeError as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise LostPeer(f"rank {rank}: lost the other ranks, one died or hung ({first})") \
            from None


class PeerError(FFTKError):
    """An error every rank raises together; rank 0 prints it, the others exit quietly."""

    def __init__(self, message: str, quiet: bool):
        super().__init__(message)
        self.quiet = quiet


def launched_ranks() -> int:
    """WORLD_SIZE as a launcher (torchrun, `fftk train --nproc`) sets it; 1 when run alone."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 (or a process run alone): the one that prints and writes."""
    return os.environ.get("RANK", "0") == "0"


@dataclass
class World:
    """This process's place among the ranks of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    exit_after: int | None = None  # the test hook's step count for this rank
    sent_bytes: int = 0  # training payload this rank has sent so far (all_reduce, isend)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def parts(self, n: int, ghost_batches: int = 1) -> list[slice]:
        """The sub-batches of an n-row batch this process computes: its rank's contiguous share
        of the batch (a shard of the one permutation every rank draws), or on one process the
        batch cut in `ghost_batches` (n is a multiple of either)."""
        if self.size > 1:
            share = n // self.size
            return [slice(self.rank * share, (self.rank + 1) * share)]
        share = n // ghost_batches
        return [slice(i * share, (i + 1) * share) for i in range(ghost_batches)]

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """Replace each gradient by its mean over the ranks, in one all-reduce."""
        if self.size == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.all_reduce(flat)
        flat /= self.size
        for g, v in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
            g.copy_(v.view_as(g))

    def average_buffers(self, net: nn.Module) -> None:
        """BatchNorm statistics run per rank; their mean is what the checkpoint holds."""
        if self.size == 1:
            return
        for b in net.buffers():
            if b.is_floating_point():
                self.all_reduce(b)
                b /= self.size

    def all_reduce(self, t: torch.Tensor) -> None:
        """Sum `t` over the ranks in place, counting its payload (numel x element size) as sent.
        That is what this rank contributes, not the wire traffic: gloo's ring all-reduce moves
        about 2(W-1)/W of it per rank, plus framing."""
        self.sent_bytes += t.numel() * t.element_size()
        with collective(self.rank):
            dist.all_reduce(t)

    def isend(self, t: torch.Tensor, dst: int) -> dist.Work:
        """Start sending `t` to rank `dst`, counting its payload as sent."""
        self.sent_bytes += t.numel() * t.element_size()
        with collective(self.rank):
            return dist.isend(t, dst)

    def broadcast_state(self, net: nn.Module) -> None:
        """Every rank starts from rank 0's weights (seeded alike already: this makes it sure)."""
        if self.size > 1:
            for t in net.state_dict().values():
                with collective(self.rank):
                    dist.broadcast(t, src=0)

    def sum(self, values: list[float]) -> list[float]:
        """The element-wise sum of every rank's `values` (epoch counts, losses)."""
        if self.size == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        if dist.get_backend() == "nccl":
            t = t.cuda()
        with collective(self.rank):
            dist.all_reduce(t)
        return t.tolist()

    def per_rank(self, values: list[float]) -> list[list[float]]:
        """Every rank's `values` (as many on each rank), indexed by rank, in one small
        all-reduce: each rank fills its own row of zeros."""
        if self.size == 1:
            return [values]
        k = len(values)
        rows = [0.0] * (k * self.size)
        rows[self.rank * k:(self.rank + 1) * k] = values
        flat = self.sum(rows)
        return [flat[r * k:(r + 1) * k] for r in range(self.size)]

    def step_done(self, step: int) -> None:
        """Test hook (TEST_EXIT_ENV): a real death of this rank, as a crash or OOM kill would."""
        if self.exit_after is not None and step >= self.exit_after:
            os._exit(1)

    @contextmanager
    def agreed(self) -> Iterator[None]:
        """Run a start-up step on every rank; a user error on any rank stops every rank with
        one line (rank 0 prints it) instead of leaving the others waiting for it."""
        if self.size == 1:
            yield
            return
        error = None
        try:
            yield
        except FFTKError as exc:
            error = str(exc)
        self.barrier()  # start-up takes longer on some ranks than a collective may wait
        errors = self._gather(error)
        failed = [(r, e) for r, e in enumerate(errors) if e is not None]
        if failed:
            rank, message = failed[0]
            if any(e != message for _, e in failed) or len(failed) < self.size:
                message = f"rank {rank}: {message}"
            raise PeerError(message, quiet=not self.is_main)

    def check_same(self, settings: dict[str, Any]) -> None:
        """Every rank must run the same settings: one line naming the first that differs."""
        if self.size == 1:
            return
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        gathered = self._gather((digest, settings))
        for rank, (other, theirs) in enumerate(gathered):
            if other != digest or theirs != settings:
                key = next(k for k in sorted(settings) if theirs.get(k) != settings.get(k))
                flag = "--" + key.replace("_", "-")
                raise PeerError(f"ranks were started with different arguments: {flag} is "
                                f"{gathered[0][1].get(key)!r} on rank 0 and {theirs.get(key)!r}"
                                f" on rank {rank}; start every rank with the same command",
                                quiet=not self.is_main)

    def barrier(self) -> None:
        """Wait up to STARTUP_TIMEOUT for every rank (gloo names the ranks that never came)."""
        if self.size == 1:
            return
        with collective(self.rank):
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=STARTUP_TIMEOUT)
            else:
                dist.barrier()

    def _gather(self, obj: object) -> list[Any]:
        out: list[Any] = [None] * self.size
        with collective(self.rank):
            dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def join_world(device: str, backend: str | None) -> World:
    """The world torchrun's environment describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT), its
    process group joined; a one-rank world when no launcher started this process."""
    size = launched_ranks()
    if size == 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    backend = backend or ("nccl" if cuda else "gloo")
    if backend == "nccl" and not cuda:
        raise FFTKError("--dist-backend nccl needs --device cuda (gloo runs on CPU)")
    if cuda:
        torch.cuda.set_device(local)  # NCCL's collectives run on the current device
    try:
        dist.init_process_group(backend, rank=rank, world_size=size, timeout=COLLECTIVE_TIMEOUT)
    except (RuntimeError, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise FFTKError(f"rank {rank}: cannot join the process group ({first})") from None
    return World(rank=rank, size=size, local_rank=local, exit_after=_exit_after(rank))


def _exit_after(rank: int) -> int | None:
    spec = os.environ.get(TEST_EXIT_ENV, "")
    if not spec:
        return None
    who, steps = spec.split(":")
    return int(steps) if int(who) == rank else None

"""Local update routines: which blocks train together, and whose losses they minimise.

A chunk is a run of consecutive blocks trained as one: its input is detached at the chunk
boundary, its loss back-propagates inside the chunk only (paper §II-B c, §III).

`cuts` splits every chunk at the given block indices: the schedule of FF's block pipeline
(`--parallel blocks`), where a chunk never straddles two ranks, so no rank needs a gradient
from another. One process runs the same cut schedule for reference (`pipeline_cuts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fftoolkit.models.spec import ROUTINES


@dataclass(frozen=True)
class Chunk:
    blocks: tuple[int, ...]       # blocks run (and stepped) in this chunk, in order
    loss_blocks: tuple[int, ...]  # blocks whose local losses are summed into the chunk loss


def chunk_schedule(num_blocks: int, step: int, routine: str = "chunked",
                   cuts: Sequence[int] = ()) -> list[Chunk]:
    """Chunks for training iteration `step`.

    - chunked: chunks of 2 that shift by one block every other iteration:
      even steps (0,1)(2,3)..., odd steps (0)(1,2)(3,4)...
    - greedy: one block per chunk (Hinton's layer-local updates).
    - overlapping: each chunk also holds the previous block, which the chunk's loss also
      updates: (0)(0,1)(1,2)... with the loss of the chunk's last block (Trifecta-style).

    `cuts`: block indices no chunk may straddle (a chunk holding c-1 and c is split before c);
    a piece left without a loss of its own (overlapping's (c-1) of (c-1, c)) is dropped, as
    its block is trained by its own chunk already.
    """
    return _cut(_schedule(num_blocks, step, routine), cuts)


def pipeline_cuts(num_blocks: int, stages: int) -> tuple[int, ...]:
    """Where `stages` contiguous groups of blocks meet: the first blocks of stages 1.. .
    Earlier stages take the extra blocks (the last one also runs the head)."""
    if not 1 <= stages <= num_blocks:
        raise ValueError(f"cannot split {num_blocks} blocks into {stages} stages")
    base, extra = divmod(num_blocks, stages)
    bounds, start = [], 0
    for s in range(stages - 1):
        start += base + (s < extra)
        bounds.append(start)
    return tuple(bounds)


def stage_blocks(num_blocks: int, stages: int, stage: int) -> range:
    """The blocks stage `stage` of `stages` owns (see `pipeline_cuts`)."""
    edges = (0, *pipeline_cuts(num_blocks, stages), num_blocks)
    return range(edges[stage], edges[stage + 1])


def _schedule(num_blocks: int, step: int, routine: str) -> list[Chunk]:
    if routine == "greedy":
        return [Chunk((i,), (i,)) for i in range(num_blocks)]
    if routine == "overlapping":
        return [Chunk((0,), (0,))] + [Chunk((i - 1, i), (i,)) for i in range(1, num_blocks)]
    if routine != "chunked":
        raise ValueError(f"unknown routine {routine!r}; expected one of {ROUTINES}")
    start = step % 2
    bounds = [(0, start)] if start else []
    bounds += [(i, min(i + 2, num_blocks)) for i in range(start, num_blocks, 2)]
    return [Chunk(tuple(range(a, b)), tuple(range(a, b))) for a, b in bounds if b > a]


def _cut(chunks: list[Chunk], cuts: Sequence[int]) -> list[Chunk]:
    out = []
    for chunk in chunks:
        pieces: list[list[int]] = [[]]
        for b in chunk.blocks:
            if pieces[-1] and b in cuts:
                pieces.append([])
            pieces[-1].append(b)
        for p in pieces:
            losses = tuple(b for b in chunk.loss_blocks if b in p)
            if losses:
                out.append(Chunk(tuple(p), losses))
    return out

"""Local update routines: which blocks train together, and whose losses they minimise.

A chunk is a run of consecutive blocks trained as one: its input is detached at the chunk
boundary, its loss back-propagates inside the chunk only (paper §II-B c, §III).
"""

from __future__ import annotations

from dataclasses import dataclass

ROUTINES = ("chunked", "greedy", "overlapping")


@dataclass(frozen=True)
class Chunk:
    blocks: tuple[int, ...]       # blocks run (and stepped) in this chunk, in order
    loss_blocks: tuple[int, ...]  # blocks whose local losses are summed into the chunk loss


def chunk_schedule(num_blocks: int, step: int, routine: str = "chunked") -> list[Chunk]:
    """Chunks for training iteration `step`.

    - chunked: chunks of 2 that shift by one block every other iteration:
      even steps (0,1)(2,3)..., odd steps (0)(1,2)(3,4)...
    - greedy: one block per chunk (Hinton's layer-local updates).
    - overlapping: each chunk also holds the previous block, which the chunk's loss also
      updates: (0)(0,1)(1,2)... with the loss of the chunk's last block (Trifecta-style).
    """
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

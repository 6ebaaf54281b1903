"""Static arena planning: every buffer (an activation tensor a step writes, or a fused step's
scratch rows) gets a fixed offset in one byte array; buffers whose lifetimes overlap never
share bytes. Sized at export, so the board needs no allocator and the linker map shows the
engine's whole RAM.
"""

from __future__ import annotations

from dataclasses import dataclass

from fftoolkit.runtime.c_engine.fuse import Step
from fftoolkit.runtime.c_engine.tflite_model import Model

ALIGN = 16

Key = int | str  # a tensor index, or "scratch<step>"


@dataclass(frozen=True)
class Placement:
    offset: int
    size: int  # bytes reserved (aligned)
    first: int  # the step that writes it
    last: int  # the last step that reads it (len(steps) for what the caller reads at the end)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def lifetimes(model: Model, steps: list[Step], hold: dict[int, int]) -> dict[Key, Placement]:
    """Every buffer's (unplaced) size and lifetime in steps. `hold`: tensor -> the step until
    which something outside the steps reads it (the goodness sums, the logits copy)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    bufs: dict[Key, Placement] = {}
    for i, step in enumerate(steps):
        for t in step.reads(model):
            if t in first:
                last[t] = max(last[t], i)
        for t in step.writes:
            first.setdefault(t, i)
            last[t] = max(last.get(t, i), i)
        if step.scratch(model):
            bufs[f"scratch{i}"] = Placement(0, _align(step.scratch(model)), i, i)
    for t, until in hold.items():
        if t in first:
            last[t] = max(last[t], until)
    for t in first:
        bufs[t] = Placement(0, _align(model.tensors[t].size), first[t], last[t])
    return bufs


def plan_arena(bufs: dict[Key, Placement]) -> tuple[dict[Key, Placement], int]:
    """Offsets by greedy first fit, largest first; returns the placements and the arena size."""
    order = sorted(bufs, key=lambda k: (-bufs[k].size, bufs[k].first, str(k)))
    placed: dict[Key, Placement] = {}
    for k in order:
        b = bufs[k]
        clashes = sorted((p.offset, p.offset + p.size) for p in placed.values()
                         if p.first <= b.last and b.first <= p.last)
        offset = 0
        for lo, hi in clashes:
            if offset + b.size <= lo:
                break
            offset = max(offset, hi)
        placed[k] = Placement(offset, b.size, b.first, b.last)
    total = max((p.offset + p.size for p in placed.values()), default=0)
    return placed, total

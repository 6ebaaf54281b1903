"""Static arena planning: every activation tensor gets a fixed offset in one byte array,
tensors whose lifetimes overlap never share bytes. Sized at export, so the board needs no
allocator and the linker map shows the engine's whole RAM.
"""

from __future__ import annotations

from dataclasses import dataclass

from fftoolkit.export.c_engine.tflite_model import Model

ALIGN = 16


@dataclass(frozen=True)
class Placement:
    offset: int
    size: int
    first: int  # index of the op that writes it
    last: int  # index of the last op that reads it (len(ops) for graph outputs)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_arena(model: Model, keep: set[int]) -> tuple[dict[int, Placement], int]:
    """Offsets of every op-produced tensor (the graph input stays in the caller's buffer);
    `keep`: tensors read after the last op (outputs, goodness features). Greedy first fit,
    largest first."""
    n_ops = len(model.operators)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for op in model.operators:
        for t in op.outputs:
            first.setdefault(t, op.index)
            last[t] = max(last.get(t, op.index), op.index)
        for t in op.inputs:
            if t in first:
                last[t] = max(last[t], op.index)
    for t in keep:
        if t in first:
            last[t] = n_ops
    order = sorted(first, key=lambda t: (-model.tensors[t].size, t))
    placed: dict[int, Placement] = {}
    for t in order:
        size = _align(model.tensors[t].size)
        clashes = sorted((p.offset, p.offset + p.size) for p in placed.values()
                         if p.first <= last[t] and first[t] <= p.last)
        offset = 0
        for lo, hi in clashes:
            if offset + size <= lo:
                break
            offset = max(offset, hi)
        placed[t] = Placement(offset, size, first[t], last[t])
    total = max((p.offset + p.size for p in placed.values()), default=0)
    return placed, total

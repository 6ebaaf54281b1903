"""A minimal read-only FlatBuffers table reader: enough to walk a `.tflite` file without a
schema package (the exporter must read exactly what the C engine will run, nothing more).

A table is a position in the buffer; fields are looked up by their index in the schema.
Bounds are checked: a truncated or hostile file raises ValueError, never reads past the end.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np


class Table:
    """One FlatBuffers table: `buf` and the table's start `pos`."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vtable = pos - _unpack(buf, "<i", pos)
        self._vsize = _unpack(buf, "<H", vtable)
        self._vtable = vtable

    def _field(self, index: int) -> int:
        """Absolute position of field `index`, or 0 when absent."""
        slot = 4 + 2 * index
        if slot >= self._vsize:
            return 0
        off = _unpack(self.buf, "<H", self._vtable + slot)
        return self.pos + off if off else 0

    def scalar(self, index: int, fmt: str, default: Any = 0) -> Any:
        at = self._field(index)
        return _unpack(self.buf, fmt, at) if at else default

    def _target(self, index: int) -> int:
        at = self._field(index)
        return at + _unpack(self.buf, "<I", at) if at else 0

    def table(self, index: int) -> Table | None:
        at = self._target(index)
        return Table(self.buf, at) if at else None

    def string(self, index: int) -> str:
        at = self._target(index)
        if not at:
            return ""
        n = _unpack(self.buf, "<I", at)
        return _slice(self.buf, at + 4, n).decode("utf-8", "replace")

    def vector(self, index: int, dtype: str) -> np.ndarray:
        """A vector of scalars (numpy dtype string, little-endian)."""
        at = self._target(index)
        if not at:
            return np.zeros(0, dtype=dtype)
        n = _unpack(self.buf, "<I", at)
        size = np.dtype(dtype).itemsize
        return np.frombuffer(_slice(self.buf, at + 4, n * size), dtype=dtype).copy()

    def tables(self, index: int) -> list[Table]:
        """A vector of tables."""
        at = self._target(index)
        if not at:
            return []
        n = _unpack(self.buf, "<I", at)
        out = []
        for i in range(n):
            elem = at + 4 + 4 * i
            out.append(Table(self.buf, elem + _unpack(self.buf, "<I", elem)))
        return out


def root(buf: bytes) -> Table:
    return Table(buf, _unpack(buf, "<I", 0))


def _unpack(buf: bytes, fmt: str, at: int) -> Any:
    size = struct.calcsize(fmt)
    if at < 0 or at + size > len(buf):
        raise ValueError(f"flatbuffer offset {at} outside the file ({len(buf)} bytes)")
    return struct.unpack_from(fmt, buf, at)[0]


def _slice(buf: bytes, at: int, n: int) -> bytes:
    if at < 0 or n < 0 or at + n > len(buf):
        raise ValueError(f"flatbuffer range {at}+{n} outside the file ({len(buf)} bytes)")
    return buf[at:at + n]

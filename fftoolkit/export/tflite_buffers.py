"""Rewrite a .tflite so that every constant lives inline in its `Buffer.data`.

ai-edge-quantizer serializes a model whose constants (buffers of >= 1 KiB) add up to
256 KiB or more in the "buffer offset" layout: `Buffer.offset`/`size` point past the end of
the flatbuffer instead of `Buffer.data` holding the bytes. LiteRT reads that layout;
TensorFlow Lite Micro does not (it reads `data` only, so such a model computes on memory it
never wrote). The quantizer has no option for it (the threshold is hard-coded), so the
exporter re-serializes what it writes with this module.
"""

from __future__ import annotations

import flatbuffers
import numpy as np

from fftoolkit.errors import FFTKError

_IDENTIFIER = b"TFL3"
_ALIGN = 16  # the schema's `data: [ubyte] (force_align: 16)`, as flatc honours it


def offset_buffers(model: bytes) -> int:
    """How many `Buffer`s of a .tflite keep their bytes outside the flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.Model.GetRootAs(model, 0)
    return sum(1 for i in range(m.BuffersLength()) if m.Buffers(i).Offset() > 1)


def inline_buffers(model: bytes, name: str = "model") -> bytes:
    """The same model with each offset buffer's bytes moved into `data` (offset and size
    cleared) and every `data` 16-byte aligned; a model without offset buffers is returned
    as it is."""
    from ai_edge_litert import schema_py_generated as schema

    if offset_buffers(model) == 0:
        return model
    obj = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    for sub in obj.subgraphs or []:
        if any(op.largeCustomOptionsOffset for op in sub.operators or []):
            raise FFTKError(f"{name}: custom options stored by offset are not supported")
    buffers = []
    for i, buf in enumerate(obj.buffers or []):
        data = buf.data
        if buf.offset > 1:
            if buf.offset + buf.size > len(model):
                raise FFTKError(f"{name}: buffer {i} lies past the end of the file "
                                f"({buf.offset + buf.size} > {len(model)} bytes)")
            data = model[buf.offset:buf.offset + buf.size]
        elif data is not None:
            data = np.asarray(data, np.uint8).tobytes()
        buffers.append(_InlineBuffer(None if data is None else bytes(data)))
    obj.buffers = buffers
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(obj.Pack(builder), file_identifier=_IDENTIFIER)
    return bytes(builder.Output())


class _InlineBuffer:
    """A `Buffer` for `ModelT.Pack`: inline `data` only, 16-byte aligned in the file (the
    generated Python `BufferT` packs it 1-byte aligned, so an int32 bias could land
    unaligned, which a Cortex-M0 cannot load)."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 (ModelT.Pack calls it)
        from ai_edge_litert import schema_py_generated as schema

        vector = None
        if self.data is not None:
            builder.StartVector(1, len(self.data), _ALIGN)
            builder.head -= len(self.data)
            builder.Bytes[builder.head:builder.head + len(self.data)] = self.data
            vector = builder.EndVector()
        schema.BufferStart(builder)
        if vector is not None:
            schema.BufferAddData(builder, vector)
        return int(schema.BufferEnd(builder))

"""Find tensors stored outside an ONNX file, reading its protobuf with the standard library.

An ONNX tensor may keep its bytes in another file (`data_location: EXTERNAL`, with a
`location` relative to the model, or to the working directory when loaded from bytes). A
bundle's models must be self-contained: a hostile model could otherwise make the runtime open
any file the user can read. The device side has no `onnx` package, so this walks the wire
format directly: ModelProto -> graphs -> initializers, node attributes, functions.
"""

from __future__ import annotations

from collections.abc import Iterator

# field numbers from onnx.proto3
MODEL_GRAPH, MODEL_FUNCTIONS = 7, 25
GRAPH_NODES, GRAPH_INITIALIZERS, GRAPH_SPARSE_INITIALIZERS = 1, 5, 15
NODE_ATTRIBUTES = 5
FUNCTION_NODES = 7
ATTR_TENSOR, ATTR_GRAPH, ATTR_TENSORS, ATTR_GRAPHS = 5, 6, 10, 11
ATTR_SPARSE_TENSOR, ATTR_SPARSE_TENSORS = 22, 23
SPARSE_VALUES, SPARSE_INDICES = 1, 2
TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION = 13, 14
EXTERNAL = 1
MAX_DEPTH = 64  # subgraphs nest (If/Loop bodies); a deeper file is refused as malformed


class MalformedProto(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise MalformedProto("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value): bytes for length-delimited fields, else an int."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise MalformedProto("truncated field")
            yield number, wire, data[pos:pos + size]
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(data):
                raise MalformedProto("truncated field")
            yield number, wire, int.from_bytes(data[pos:pos + width], "little")
            pos += width
        else:
            raise MalformedProto(f"unsupported wire type {wire}")


def _messages(data: bytes, numbers: tuple[int, ...]) -> Iterator[tuple[int, bytes]]:
    for number, wire, value in _fields(data):
        if number in numbers and wire == 2:
            assert isinstance(value, bytes)
            yield number, value


def _tensor_external(data: bytes) -> bool:
    return any((n == TENSOR_DATA_LOCATION and w == 0 and v == EXTERNAL)
               or (n == TENSOR_EXTERNAL_DATA and w == 2) for n, w, v in _fields(data))


def _sparse_external(data: bytes) -> bool:
    return any(_tensor_external(t) for _, t in _messages(data, (SPARSE_VALUES, SPARSE_INDICES)))


def _nodes_external(data: bytes, node_field: int, depth: int) -> bool:
    for _, node in _messages(data, (node_field,)):
        for _, attr in _messages(node, (NODE_ATTRIBUTES,)):
            for number, value in _messages(attr, (ATTR_TENSOR, ATTR_TENSORS, ATTR_GRAPH,
                                                  ATTR_GRAPHS, ATTR_SPARSE_TENSOR,
                                                  ATTR_SPARSE_TENSORS)):
                if number in (ATTR_TENSOR, ATTR_TENSORS) and _tensor_external(value):
                    return True
                if number in (ATTR_SPARSE_TENSOR, ATTR_SPARSE_TENSORS) and _sparse_external(value):
                    return True
                if number in (ATTR_GRAPH, ATTR_GRAPHS) and _graph_external(value, depth + 1):
                    return True
    return False


def _graph_external(data: bytes, depth: int) -> bool:
    if depth > MAX_DEPTH:
        raise MalformedProto("subgraphs nested too deeply")
    for number, value in _messages(data, (GRAPH_INITIALIZERS, GRAPH_SPARSE_INITIALIZERS)):
        if (_tensor_external(value) if number == GRAPH_INITIALIZERS
                else _sparse_external(value)):
            return True
    return _nodes_external(data, GRAPH_NODES, depth)


def uses_external_data(model: bytes) -> bool:
    """True if any tensor of the serialized ModelProto lives outside it.

    Raises `MalformedProto` when the bytes are not a protobuf message.
    """
    for number, value in _messages(model, (MODEL_GRAPH, MODEL_FUNCTIONS)):
        if number == MODEL_GRAPH and _graph_external(value, 0):
            return True
        if number == MODEL_FUNCTIONS and _nodes_external(value, FUNCTION_NODES, 0):
            return True
    return False

"""The few ONNX messages the embedding graph needs, written in protobuf's wire format.

Why not the ``onnx`` package: importing it (protobuf and its generated classes) added about
21 MB to every process that embeds, to build one small graph once. Only what graph.py uses is
here; field numbers are onnx.proto's, and tests/memory/test_onnx_wire.py parses what this
writes with the ``onnx`` package (a dev dependency) to hold them to it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

# TensorProto.DataType
FLOAT = 1
INT8 = 3
INT64 = 7
_DATA_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int8): INT8, np.dtype(np.int64): INT64}
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7

Attr = int | float | list[int]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s go as their 64-bit two's complement
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _str(field: int, value: str) -> bytes:
    return _bytes(field, value.encode("utf-8"))


def _float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def attribute(name: str, value: Attr) -> bytes:
    """AttributeProto: name 1, f 2, i 3, ints 8, type 20."""
    out = _str(1, name)
    if isinstance(value, list):
        return out + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    if isinstance(value, float):
        return out + _float(2, value) + _int(20, _ATTR_FLOAT)
    return out + _int(3, value) + _int(20, _ATTR_INT)


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: Attr) -> bytes:
    """NodeProto: input 1, output 2, op_type 4, attribute 5."""
    out = b"".join(_str(1, name) for name in inputs)
    out += b"".join(_str(2, name) for name in outputs) + _str(4, op_type)
    return out + b"".join(_bytes(5, attribute(k, v)) for k, v in attrs.items())


def tensor(name: str, value: npt.NDArray[np.generic]) -> bytes:
    """TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian, row-major)."""
    array = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
    out = b"".join(_int(1, d) for d in array.shape)
    out += _int(2, _DATA_TYPES[np.dtype(array.dtype.name)]) + _str(8, name)
    return out + _bytes(9, array.tobytes())


def value_info(name: str, elem_type: int, dims: Iterable[int | str]) -> bytes:
    """ValueInfoProto (name 1, type 2) of a tensor: TypeProto.tensor_type 1 (elem_type 1,
    shape 2); a dim is dim_value 1 or, named, dim_param 2."""
    shape = b"".join(_bytes(1, _str(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, elem_type) + _bytes(2, shape)
    return _str(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(
    name: str,
    nodes: Iterable[bytes],
    initializers: Iterable[bytes],
    inputs: Iterable[bytes],
    outputs: Iterable[bytes],
    opset: int,
    ir_version: int,
) -> bytes:
    """ModelProto (ir_version 1, graph 7, opset_import 8) holding one GraphProto (node 1,
    name 2, initializer 5, input 11, output 12)."""
    graph = b"".join(_bytes(1, n) for n in nodes) + _str(2, name)
    graph += b"".join(_bytes(5, t) for t in initializers)
    graph += b"".join(_bytes(11, v) for v in inputs)
    graph += b"".join(_bytes(12, v) for v in outputs)
    opset_id = _str(1, "") + _int(2, opset)  # the default domain
    return _int(1, ir_version) + _bytes(7, graph) + _bytes(8, opset_id)

"""RecordIO-protobuf, the Amazon algorithms' binary format, decoded and encoded without a protobuf library.

Framing (dmlc RecordIO): per record a little-endian uint32 magic 0xCED7230A, a uint32 whose low 29 bits
are the payload length and high 3 bits a continuation flag, the payload, then zero padding to 4 bytes.
A payload is an `aialgs.data.Record` message (`record.proto` of the SageMaker SDK):
Record{1: map<string, Value> features, 2: map<string, Value> label, ...},
Value{2: Float32Tensor, 3: Float64Tensor, 7: Int32Tensor, 9: Bytes},
Tensor{1: packed values, 2: packed uint64 keys (sparse), 3: packed uint64 shape}.
Only the `values` entry of `features` and `label` is used, as the SDK's `record_set()` writes it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_MASK = (1 << 29) - 1


class RecordIOError(ValueError):
    """The bytes are not RecordIO-protobuf."""


@dataclass(slots=True)
class Tensor:
    values: npt.NDArray[np.float64]
    keys: list[int] = field(default_factory=list)
    shape: list[int] = field(default_factory=list)

    def dense(self, width: int | None = None) -> npt.NDArray[np.float64]:
        """The tensor as a flat dense vector (sparse keys scattered into `width` or `shape` slots)."""
        if not self.keys:
            return self.values
        size = (
            width if width is not None else (int(np.prod(self.shape)) if self.shape else max(self.keys) + 1)
        )
        out = np.zeros(size, dtype=np.float64)
        keys = np.asarray(self.keys, dtype=np.int64)
        if keys.size and (keys.max() >= size):
            raise RecordIOError(f"sparse key {int(keys.max())} is outside a vector of {size} values")
        out[keys] = self.values
        return out


@dataclass(slots=True)
class Record:
    features: dict[str, Tensor]
    label: dict[str, Tensor]


def read_records(stream: BinaryIO) -> Iterator[Record]:
    for payload in read_payloads(stream):
        yield decode_record(payload)


def read_payloads(stream: BinaryIO) -> Iterator[bytes]:
    parts: list[bytes] = []
    while True:
        header = stream.read(8)
        if not header:
            if parts:
                raise RecordIOError("the file ends inside a multi-part record")
            return
        if len(header) < 8:
            raise RecordIOError("truncated record header")
        magic, word = struct.unpack("<II", header)
        if magic != MAGIC:
            raise RecordIOError(f"bad magic number 0x{magic:08X} (expected 0x{MAGIC:08X})")
        length, flag = word & _LENGTH_MASK, word >> 29
        payload = stream.read(length)
        if len(payload) < length:
            raise RecordIOError("truncated record payload")
        stream.read((-length) % 4)
        # dmlc splits a payload wherever it contains the magic number; the parts rejoin around it.
        if flag == 0:
            yield payload
        elif flag == 1:
            parts = [payload]
        elif flag == 2:
            parts.append(payload)
        elif flag == 3:
            parts.append(payload)
            yield _MAGIC_BYTES.join(parts)
            parts = []
        else:
            raise RecordIOError(f"bad continuation flag {flag}")


def decode_record(payload: bytes) -> Record:
    record = Record(features={}, label={})
    for number, value in _fields(payload):
        if number in (1, 2) and isinstance(value, bytes):
            key, tensor = _map_entry(value)
            (record.features if number == 1 else record.label)[key] = tensor
    return record


def _map_entry(payload: bytes) -> tuple[str, Tensor]:
    key, tensor = "", Tensor(np.zeros(0))
    for number, value in _fields(payload):
        if number == 1 and isinstance(value, bytes):
            key = value.decode("utf-8")
        elif number == 2 and isinstance(value, bytes):
            tensor = _value(value)
    return key, tensor


def _value(payload: bytes) -> Tensor:
    for number, value in _fields(payload):
        if isinstance(value, bytes) and number in (2, 3, 7):
            return _tensor(value, {2: "<f4", 3: "<f8", 7: "varint"}[number])
        if number == 9:
            raise RecordIOError("Bytes values are not supported; write float32 tensors (record_set())")
    return Tensor(np.zeros(0))


def _tensor(payload: bytes, dtype: str) -> Tensor:
    chunks: list[npt.NDArray[np.float64]] = []
    keys: list[int] = []
    shape: list[int] = []
    for number, value in _fields(payload):
        if number == 1:
            if isinstance(value, bytes):
                if dtype == "varint":
                    chunks.append(np.asarray([_signed32(v) for v in _varints(value)], dtype=np.float64))
                else:
                    chunks.append(np.frombuffer(value, dtype=dtype).astype(np.float64))
            else:  # a non-packed scalar element
                chunks.append(np.asarray([_scalar(value, dtype)], dtype=np.float64))
        elif number in (2, 3):
            items = list(_varints(value)) if isinstance(value, bytes) else [int(value)]
            (keys if number == 2 else shape).extend(items)
    values = np.concatenate(chunks) if chunks else np.zeros(0)
    return Tensor(values, keys, shape)


def _scalar(value: int | bytes, dtype: str) -> float:
    if dtype == "<f4":
        return float(struct.unpack("<f", int(value).to_bytes(4, "little"))[0])
    if dtype == "<f8":
        return float(struct.unpack("<d", int(value).to_bytes(8, "little"))[0])
    return float(_signed32(int(value)))


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _fields(payload: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varint/fixed fields, bytes for length-delimited ones."""
    pos, end = 0, len(payload)
    while pos < end:
        tag, pos = _varint(payload, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(payload, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(payload, pos)
            if pos + length > end:
                raise RecordIOError("truncated protobuf field")
            yield number, payload[pos : pos + length]
            pos += length
        elif wire == 5:
            yield number, int.from_bytes(payload[pos : pos + 4], "little")
            pos += 4
        elif wire == 1:
            yield number, int.from_bytes(payload[pos : pos + 8], "little")
            pos += 8
        else:
            raise RecordIOError(f"unsupported protobuf wire type {wire}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise RecordIOError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _varints(data: bytes) -> Iterator[int]:
    pos = 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        yield value


# Encoding: used to write test data and, later, to answer inference requests in the same format.


def encode_dense(features: npt.ArrayLike, label: float | None = None) -> bytes:
    """One Record with dense float32 `values` features (and label), as the SDK's record_set() writes."""
    record = _field(1, _map_entry_bytes("values", np.asarray(features, dtype="<f4")))
    if label is not None:
        record += _field(2, _map_entry_bytes("values", np.asarray([label], dtype="<f4")))
    return record


def write_payloads(stream: BinaryIO, payloads: Iterator[bytes] | list[bytes]) -> None:
    for payload in payloads:
        stream.write(struct.pack("<II", MAGIC, len(payload)))
        stream.write(payload)
        stream.write(b"\x00" * ((-len(payload)) % 4))


def _map_entry_bytes(key: str, values: npt.NDArray[np.float32]) -> bytes:
    tensor = _field(1, values.tobytes())
    value = _field(2, tensor)  # Value.float32_tensor
    return _field(1, key.encode("utf-8")) + _field(2, value)


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint((number << 3) | 2) + _encode_varint(len(payload)) + payload


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)

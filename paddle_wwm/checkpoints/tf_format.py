"""TensorFlow checkpoints (`bert_model.ckpt.index` + `.data-NNNNN-of-MMMMM`) read with numpy alone.

The `.index` file is a LevelDB-format table (TensorFlow's tensorflow/core/lib/io/table_format):
data blocks of prefix-compressed `key -> value` entries with restart points, an index block
pointing at them, and a 48-byte footer that ends with a magic number. In a tensor bundle the empty
key holds a BundleHeaderProto (number of shards, endianness) and every other key, a variable's name,
holds a BundleEntryProto (dtype, shape, shard, offset, size, crc32c) locating the variable's raw
bytes in `.data-<shard>-of-<shards>`. The few protobuf fields needed are decoded here by hand.
"""
from __future__ import annotations

import math
import mmap
import struct
from pathlib import Path

import numpy as np

from .errors import CheckpointError, bf16_bits_to_float32

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48  # two block handles padded to 40 bytes, then the fixed64 magic
BLOCK_TRAILER_SIZE = 5  # compression type byte + masked crc32c of the block
COMPRESSION = {0: None, 1: "snappy", 2: "zlib"}
BF16 = "bfloat16"
# tensorflow/core/framework/types.proto: DataType -> numpy type code
DTYPES = {1: "f4", 2: "f8", 3: "i4", 4: "u1", 5: "i2", 6: "i1", 9: "i8", 10: "?", 14: BF16, 17: "u2",
          19: "f2", 22: "u4", 23: "u8"}
# Optimizer state and step counters that training checkpoints carry beside the weights.
NOT_WEIGHTS = ("adam_m", "adam_v", "lamb_m", "lamb_v", "global_step", "_power", "Momentum")


# ------------------------------------------------------------------ encodings
def _varint(data, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 64 bits")


def _protobuf_fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value) pairs: ints for varint/fixed fields, bytes for length-delimited ones."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            (value,), pos = struct.unpack_from("<Q", data, pos), pos + 8
        elif wire == 5:
            (value,), pos = struct.unpack_from("<I", data, pos), pos + 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = bytes(data[pos:pos + length]), pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, value))
    return fields


def _shape(data: bytes) -> tuple[int, ...]:
    dims = []
    for number, dim in _protobuf_fields(data):
        if number == 2:  # TensorShapeProto.dim: Dim{size = 1, name = 2}
            dims.append(next((v for n, v in _protobuf_fields(dim) if n == 1), 0))
    return tuple(dims)


def _entry(value: bytes) -> dict:
    entry = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "crc32c": None, "slices": False}
    for number, field in _protobuf_fields(value):
        if number == 1:
            entry["dtype"] = field
        elif number == 2:
            entry["shape"] = _shape(field)
        elif number in (3, 4, 5, 6):
            entry[{3: "shard_id", 4: "offset", 5: "size", 6: "crc32c"}[number]] = field
        elif number == 7:
            entry["slices"] = True
    return entry


# ------------------------------------------------------------------ the table
def _block(data: bytes, offset: int, size: int, path: Path) -> bytes:
    if offset + size + BLOCK_TRAILER_SIZE > len(data):
        raise CheckpointError(f"{path}: a block runs past the end of the file")
    compression = data[offset + size]
    if compression != 0:
        name = COMPRESSION.get(compression, f"type {compression}")
        raise CheckpointError(f"{path}: the index uses {name} block compression, which this reader does not "
                              "handle (TensorFlow writes bundle indexes uncompressed)")
    return data[offset:offset + size]


def _block_entries(block: bytes):
    if len(block) < 4:
        raise ValueError("block shorter than its restart count")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise ValueError("bad restart count")
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        if shared > len(key):
            raise ValueError("key shares more bytes than the previous key has")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_length]
        pos += value_length


def read_table(path: Path) -> dict[bytes, bytes]:
    """Every key -> value of a LevelDB-format table file."""
    data = Path(path).read_bytes()
    if len(data) < FOOTER_SIZE or struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise CheckpointError(f"{path}: not a TensorFlow checkpoint index (no table magic number at the end)")
    footer = data[-FOOTER_SIZE:]
    _, pos = _varint(footer, 0)  # the metaindex block: unused by tensor bundles
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    table = {}
    for _, handle in _block_entries(_block(data, index_offset, index_size, path)):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        table.update(_block_entries(_block(data, offset, size, path)))
    return table


# ------------------------------------------------------------------ the bundle
def _masked_crc32c(data) -> int | None:
    try:
        import crc32c  # optional and fast; without it only sizes are checked
    except ImportError:
        return None
    crc = crc32c.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _map(path: Path):
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY) if path.stat().st_size else b""


def read_tf_bundle(prefix, keep_optimizer_state: bool = False) -> dict:
    """`name -> numpy array` for the checkpoint at `prefix` (`.../bert_model.ckpt`); Adam/LAMB slots and
    `global_step` are left out unless asked for. bf16 and fp16 variables come back as float32."""
    prefix = Path(prefix)
    index = Path(str(prefix) + ".index")
    try:
        table = read_table(index)
        header = dict(_protobuf_fields(table.pop(b"", b"")))
    except (ValueError, struct.error, IndexError) as error:
        raise CheckpointError(f"{index}: not a readable TensorFlow checkpoint index ({error})") from None
    shards, byteorder = header.get(1, 1), ">" if header.get(2, 0) == 1 else "<"
    maps, out = {}, {}
    for key, value in table.items():
        name = key.decode("utf-8", "replace")
        if not keep_optimizer_state and any(part in name for part in NOT_WEIGHTS):
            continue
        try:
            entry = _entry(value)
        except (ValueError, struct.error) as error:
            raise CheckpointError(f"{index}: entry {name!r} is not a BundleEntryProto ({error})") from None
        if entry["slices"]:
            raise CheckpointError(f"{index}: variable {name!r} is saved in slices (partitioned), not supported")
        code = DTYPES.get(entry["dtype"])
        if code is None:
            raise CheckpointError(f"{index}: variable {name!r} has unsupported TensorFlow dtype {entry['dtype']}")
        shard = Path(f"{prefix}.data-{entry['shard_id']:05d}-of-{shards:05d}")
        if shard not in maps:
            if not shard.is_file():
                raise CheckpointError(f"{prefix}: data file {shard.name} is missing")
            maps[shard] = _map(shard)
        out[name] = _tensor(maps[shard], entry, code, byteorder, f"{shard}: variable {name!r}")
    return out


def _tensor(data, entry: dict, code: str, byteorder: str, where: str) -> np.ndarray:
    dtype = np.dtype(byteorder + ("u2" if code == BF16 else code))
    count = math.prod(entry["shape"])  # exact: a corrupt entry's huge dims must not wrap around
    start, size = entry["offset"], entry["size"]
    if size != count * dtype.itemsize or start + size > len(data):
        raise CheckpointError(f"{where}: {size} bytes at {start} do not hold shape {entry['shape']} "
                              f"(the file has {len(data)} bytes)")
    if entry["crc32c"] is not None:
        crc = _masked_crc32c(memoryview(data)[start:start + size])
        if crc is not None and crc != entry["crc32c"]:
            raise CheckpointError(f"{where}: checksum mismatch, the data file is corrupted")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(entry["shape"])
    if code == BF16:
        return bf16_bits_to_float32(array)
    if code == "f2" or not array.dtype.isnative:
        return array.astype(np.float32 if code == "f2" else array.dtype.newbyteorder("="))
    return array

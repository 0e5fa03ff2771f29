"""The TensorFlow checkpoint reader on a bundle built by hand, byte by byte, from the format's
description (LevelDB table: prefix-compressed entries, restart array, 5-byte block trailers, an
index block, the 48-byte footer; BundleHeaderProto / BundleEntryProto wire encoding)."""
import struct

import numpy as np
import pytest

from paddle_wwm.checkpoints import CheckpointError
from paddle_wwm.checkpoints.tf_format import read_tf_bundle


def varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field(number, wire, payload):
    if wire == 2:
        payload = varint(len(payload)) + payload
    return varint(number << 3 | wire) + payload


def entry_proto(dtype, shape, offset, size, shard=0):
    dims = b"".join(field(2, 2, field(1, 0, varint(d))) for d in shape)
    return (field(1, 0, varint(dtype)) + field(2, 2, dims) + (field(3, 0, varint(shard)) if shard else b"")
            + field(4, 0, varint(offset)) + field(5, 0, varint(size)))


def block(entries, restart_every=2):
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_every:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def write_bundle(prefix, tensors, big_endian=False):
    """tensors: [(name, array)] sorted by name; two data blocks, one index block."""
    data, entries = bytearray(), []
    for name, array in tensors:
        raw = array.astype(array.dtype.newbyteorder(">" if big_endian else "<")).tobytes()
        dtype = {np.dtype("float32"): 1, np.dtype("int64"): 9, np.dtype("float16"): 19}[array.dtype]
        entries.append((name.encode(), entry_proto(dtype, array.shape, len(data), len(raw))))
        data += raw
    header = (b"", field(1, 0, varint(1)) + (field(2, 0, varint(1)) if big_endian else b""))
    all_entries = [header] + entries
    half = len(all_entries) // 2
    table, index_entries = bytearray(), []
    for part in (all_entries[:half], all_entries[half:]):
        body = block(part)
        index_entries.append((part[-1][0], varint(len(table)) + varint(len(body))))
        table += body + b"\0" + b"\0\0\0\0"  # uncompressed; the crc is not checked by the reader
    index_body = block(index_entries)
    index_handle = varint(len(table)) + varint(len(index_body))
    table += index_body + b"\0\0\0\0\0"
    footer = varint(0) + varint(0) + index_handle
    table += footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    (prefix.parent / (prefix.name + ".index")).write_bytes(bytes(table))
    (prefix.parent / (prefix.name + ".data-00000-of-00001")).write_bytes(bytes(data))


TENSORS = [("bert/encoder/layer_0/output/dense/bias", np.arange(3, dtype=np.float32)),
           ("bert/encoder/layer_0/output/dense/kernel", np.arange(6, dtype=np.float32).reshape(2, 3) / 3),
           ("bert/encoder/layer_0/output/dense/kernel/adam_m", np.ones((2, 3), np.float32)),
           ("bert/pooler/half", np.array([0.5, -2.0], np.float16)),
           ("global_step", np.array(7, np.int64))]


@pytest.mark.parametrize("big_endian", [False, True])
def test_a_hand_built_bundle(tmp_path, big_endian):
    write_bundle(tmp_path / "model.ckpt", TENSORS, big_endian=big_endian)
    everything = read_tf_bundle(tmp_path / "model.ckpt", keep_optimizer_state=True)
    assert list(everything) == [name for name, _ in TENSORS]
    for name, array in TENSORS:
        expected = array.astype(np.float32) if array.dtype == np.float16 else array
        assert everything[name].dtype == expected.dtype and np.array_equal(everything[name], expected), name
    assert set(read_tf_bundle(tmp_path / "model.ckpt")) == {TENSORS[0][0], TENSORS[1][0], TENSORS[3][0]}


def test_an_entry_pointing_past_the_data_is_refused(tmp_path):
    write_bundle(tmp_path / "model.ckpt", TENSORS[:2])
    data = tmp_path / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match=r"output/dense/kernel'?: 24 bytes at 12 do not hold shape \(2, 3\)"):
        read_tf_bundle(tmp_path / "model.ckpt")

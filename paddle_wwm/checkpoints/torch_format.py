"""`pytorch_model.bin` read with numpy alone: no torch, and no code from the file runs.

torch.save writes a pickle whose tensors point at "storages" (flat typed buffers) by key:
- the zip format (torch >= 1.6): `<prefix>/data.pkl` plus one member `<prefix>/data/<key>` per
  storage, stored uncompressed, and `<prefix>/byteorder` ("little"/"big", absent means little);
- the legacy format: five pickles in a row (magic number, protocol version, sys info, the object,
  the sorted storage keys), then each storage as an int64 element count and its raw bytes.
A tensor is `_rebuild_tensor_v2(storage, offset, size, stride, ...)`, all in elements.

The unpickler resolves only the globals a state dict needs and refuses any other: a pickle that
names `os.system` (or anything else) stops with a CheckpointError before anything is called.
Storages are mapped copy-on-write from the file, so reading costs about the checkpoint's size.
"""
from __future__ import annotations

import collections
import mmap
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from .errors import CheckpointError, bf16_bits_to_float32

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
BF16 = "bfloat16"  # numpy has no bfloat16: the storage is read as uint16 bits and widened

STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": BF16,
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?", "UntypedStorage": "u1",
}


class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


class _Storage:
    """A flat buffer of one dtype, as numpy elements (bf16 as its uint16 bits)."""

    def __init__(self, array: np.ndarray, dtype: str):
        self.array, self.dtype = array, dtype


def _rebuild_tensor(storage: _Storage, offset, size, stride, *unused) -> np.ndarray:
    array = storage.array
    if array is None:  # the legacy format's first pass, before the storages' bytes are located
        return None
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride) or min((offset, *size, *stride)) < 0:
        raise ValueError(f"tensor of size {size} stride {stride} at {offset}: negative or mismatched")
    count = 1 + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else 0
    if offset < 0 or offset + count > array.size:
        raise ValueError(f"tensor of size {size} stride {stride} at {offset} overruns its storage of {array.size}")
    contiguous = stride == tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))
    if contiguous:
        tensor = array[offset:offset + int(np.prod(size))].reshape(size)
    else:  # a view (transpose, slice, expand): gather it into its own buffer
        item = array.itemsize
        tensor = np.lib.stride_tricks.as_strided(array[offset:], shape=size, strides=[s * item for s in stride]).copy()
    if storage.dtype == BF16:
        return bf16_bits_to_float32(tensor)
    if tensor.dtype == np.float16 or not tensor.dtype.isnative:
        return tensor.astype(np.float32 if tensor.dtype.kind == "f" else tensor.dtype.newbyteorder("="))
    return tensor


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


class _TensorClass:
    """Stands for torch.Tensor / nn.Parameter where a pickle names them as a type."""


class _RestrictedUnpickler(pickle.Unpickler):
    GLOBALS = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TensorClass, ("torch.nn.parameter", "Parameter"): _TensorClass,
    }

    def __init__(self, handle, path: Path, load_storage):
        super().__init__(handle)
        self.path, self.load_storage = path, load_storage

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in self.GLOBALS:
            return self.GLOBALS[module, name]
        raise CheckpointError(f"{self.path}: refusing to load the global {module}.{name}: "
                              "a weights file should hold only tensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise CheckpointError(f"{self.path}: unexpected persistent id {pid!r}")
        return self.load_storage(pid)


def _map(path: Path) -> mmap.mmap:
    with open(path, "rb") as handle:
        # Copy-on-write: the arrays are writable, the file never changes, untouched pages stay shared.
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)


def _view(buffer, start: int, nbytes: int, dtype: str, byteorder: str) -> np.ndarray:
    code = "u2" if dtype == BF16 else dtype
    item = np.dtype(code).itemsize
    if start + nbytes > len(buffer):
        raise ValueError(f"storage of {nbytes} bytes at {start} runs past the end of the file")
    prefix = "" if code in ("i1", "u1", "?") else ("<" if byteorder == "little" else ">")
    return np.frombuffer(buffer, dtype=prefix + code, count=nbytes // item, offset=start)


def _zip_member_offset(archive: zipfile.ZipFile, buffer, info: zipfile.ZipInfo) -> int:
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"member {info.filename} is compressed; torch writes storages uncompressed")
    header = bytes(buffer[info.header_offset:info.header_offset + 30])
    if header[:4] != b"PK\x03\x04":
        raise ValueError(f"member {info.filename}: bad local header")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _read_zip(path: Path) -> object:
    buffer = _map(path)
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError("no <name>/data.pkl member: not a torch zip checkpoint")
        prefix = pickles[0][:-len("data.pkl")]
        names = set(archive.namelist())
        byteorder = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
        storages = {}

        def load_storage(pid):
            storage_type, key = pid[1], str(pid[2])
            if key not in storages:
                info = archive.getinfo(f"{prefix}data/{key}")
                start = _zip_member_offset(archive, buffer, info)
                storages[key] = _Storage(_view(buffer, start, info.file_size, storage_type.dtype, byteorder),
                                         storage_type.dtype)
            return storages[key]

        with archive.open(pickles[0]) as handle:
            return _RestrictedUnpickler(handle, path, load_storage).load()


def _read_legacy(path: Path) -> object:
    buffer = _map(path)
    with open(path, "rb") as handle:
        header = _HeaderUnpickler(handle, path)
        if header.load() != LEGACY_MAGIC:
            raise ValueError("not a torch checkpoint (neither a zip nor the legacy magic number)")
        header.load()  # protocol version
        sys_info = header.load()
        byteorder = "little" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else "big"
        start = handle.tell()
        # The storages' bytes follow the object's pickle: a first pass learns each key's dtype and
        # where the pickle ends, a second one builds the tensors over the mapped storages.
        dtypes = {}

        def note_storage(pid):
            dtypes[str(pid[2])] = pid[1].dtype
            return _Storage(None, pid[1].dtype)

        _RestrictedUnpickler(handle, path, note_storage).load()
        keys = _HeaderUnpickler(handle, path).load()
        position = handle.tell()
        storages = {}
        for key in map(str, keys):
            dtype = dtypes.get(key, "u1")
            (count,) = struct.unpack("<q" if byteorder == "little" else ">q", bytes(buffer[position:position + 8]))
            nbytes = count * np.dtype("u2" if dtype == BF16 else dtype).itemsize
            storages[key] = _Storage(_view(buffer, position + 8, nbytes, dtype, byteorder), dtype)
            position += 8 + nbytes

        def load_storage(pid):
            storage = storages[str(pid[2])]
            if len(pid) > 5 and pid[5] is not None:  # (view key, offset, size): a slice of the storage
                _, offset, size = pid[5]
                return _Storage(storage.array[offset:offset + size], storage.dtype)
            return storage

        handle.seek(start)
        return _RestrictedUnpickler(handle, path, load_storage).load()


class _HeaderUnpickler(pickle.Unpickler):
    """The legacy format's small pickles: numbers, strings, lists and dicts only."""

    def __init__(self, handle, path: Path):
        super().__init__(handle)
        self.path = path

    def find_class(self, module, name):
        raise CheckpointError(f"{self.path}: refusing to load the global {module}.{name} in a torch file header")


def read_torch_state(path) -> dict:
    """`name -> numpy array` for a torch.save'd state dict (zip or legacy format); fp16 and bf16
    tensors come back as float32."""
    path = Path(path)
    try:
        state = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, zipfile.BadZipFile, OSError, MemoryError) as error:
        raise CheckpointError(f"{path}: not a readable torch weights file ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    out = {}
    for name, value in state.items():
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"{path}: entry {name!r} is {type(value).__name__}, not a tensor")
        out[str(name)] = value
    return out

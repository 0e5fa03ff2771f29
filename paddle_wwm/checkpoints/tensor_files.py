"""Reading and writing the tensor files of each layout as `name -> numpy array` dicts.

- safetensors: the default (no code runs on load); bf16 tensors are widened to float32.
- `model_state.pdparams` (paddle.save): a pickle, read with an unpickler that only builds numpy
  arrays and dicts, so that a stranger's file cannot run code (paddle.load would).
- `pytorch_model.bin`: torch_format.py, numpy only, through an unpickler that builds only tensors.
- TensorFlow checkpoints: tf_format.py, numpy only (the index table and the raw data shards).
"""
from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np

from .errors import CheckpointError, bf16_bits_to_float32
from .tf_format import read_tf_bundle
from .torch_format import read_torch_state


# ------------------------------------------------------------------ safetensors
def read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="np") as handle:
            names = list(handle.keys())
            out, bf16_names = {}, []
            for name in names:
                try:
                    out[name] = handle.get_tensor(name)
                except (TypeError, ValueError, SafetensorError):
                    bf16_names.append(name)  # numpy has no bfloat16; read the raw bits below
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None
    if bf16_names:
        out.update(_read_safetensors_raw(path, bf16_names))
    return out


def _read_safetensors_raw(path: Path, names: list[str]) -> dict:
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_len))
        base = 8 + header_len
        out = {}
        for name in names:
            info = header[name]
            if info["dtype"] != "BF16":
                raise CheckpointError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
            start, end = info["data_offsets"]
            handle.seek(base + start)
            bits = np.frombuffer(handle.read(end - start), dtype="<u2").reshape(info["shape"])
            out[name] = bf16_bits_to_float32(bits)
    return out


def safetensors_metadata(path: Path) -> dict:
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        if header_len > 100_000_000:
            raise CheckpointError(f"{path}: not a safetensors file (header length {header_len})")
        return json.loads(handle.read(header_len)).get("__metadata__", {}) or {}


def write_safetensors(state: dict, path: Path, metadata: dict | None = None) -> None:
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(value) for name, value in state.items()}, str(path), metadata=metadata)


# ------------------------------------------------------------------ paddle pickles
class _NumpyOnlyUnpickler(pickle.Unpickler):
    # What paddle.save writes for a dict of tensors: numpy arrays, dtypes and (ordered) dicts.
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy._core") and not hasattr(np, "_core"):
                module = module.replace("numpy._core", "numpy.core")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a weights file should hold only arrays")


def read_pdparams(path: Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            state = _NumpyOnlyUnpickler(handle).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable paddle weights file ({error})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    state.pop("StructuredToParameterName@@", None)
    out = {}
    for name, value in state.items():
        if isinstance(value, tuple) and len(value) == 2:  # (name, array) as older paddle versions save
            value = value[1]
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"{path}: entry {name!r} is {type(value).__name__}, not a tensor")
        out[name] = value
    return out


def write_pdparams(state: dict, path: Path) -> None:
    # A plain pickle of numpy arrays, which is exactly what paddle.save writes for them and
    # what paddle.load / PaddleNLP read back.
    with open(path, "wb") as handle:
        pickle.dump({name: np.ascontiguousarray(value) for name, value in state.items()}, handle, protocol=4)


# ------------------------------------------------------------------ torch
def read_torch_bin(path: Path) -> dict:
    return read_torch_state(path)


# ------------------------------------------------------------------ tensorflow
def tf_checkpoint_prefix(path: Path) -> Path | None:
    """The checkpoint prefix (`.../bert_model.ckpt`) for a directory or any file of a TF checkpoint."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.ckpt.index")) or sorted(path.glob("*.index"))
        return found[0].with_suffix("") if found else None
    if path.suffix == ".index" or ".data-" in path.name:
        return path.parent / path.name.split(".index")[0].split(".data-")[0]
    if Path(str(path) + ".index").exists():
        return path
    return None


def read_tf_checkpoint(prefix: Path) -> dict:
    return read_tf_bundle(prefix)

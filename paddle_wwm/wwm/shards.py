"""On-disk pre-training shards: token ids, word-start flags, sentence and document offsets.

A prepared directory holds, per shard ``shard-NNNNN``:

* ``.ids.npy``        uint16 token ids of all sentences, concatenated (uint32 for vocabularies
  over 65,535 entries);
* ``.starts.npy``     uint8, 1 where the token begins a word (:mod:`paddle_wwm.wwm.boundaries`);
* ``.sentences.npy``  int64 offsets into the tokens, one per sentence plus the end;
* ``.documents.npy``  int64 offsets into the sentences, one per document plus the end;
* ``.json``           its counts and bad lines, written last: a shard is finished exactly when this
  file exists, and a finished shard is never rewritten.

plus ``settings.json`` (what the data was made with, checked on resume) and ``manifest.json``
(all counts, written when the run ends). Arrays are ``.npy`` so that readers memory-map them.
Every file is written under a temporary name and renamed into place.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paddle_wwm.atomic_files import write_json_atomic
from paddle_wwm.errors import PaddleWwmError

FORMAT = "paddle-wwm-shards"
VERSION = 1
ARRAYS = ("ids", "starts", "sentences", "documents")


class ShardError(PaddleWwmError, ValueError):
    """A prepared directory that is missing, damaged or made with other settings."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def _save_array_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def id_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32


def shard_done(directory: Path, index: int) -> bool:
    return (directory / f"{shard_name(index)}.json").is_file()


def write_shard(directory: Path, index: int, arrays: dict[str, np.ndarray], info: dict) -> None:
    """Write one shard; its .json goes last and marks it finished."""
    name = shard_name(index)
    if shard_done(directory, index):
        raise ShardError(f"{directory / name}.json: shard already finished; finished shards are never rewritten")
    for key in ARRAYS:
        _save_array_atomic(directory / f"{name}.{key}.npy", arrays[key])
    write_json_atomic(directory / f"{name}.json", {"name": name, **info})


@dataclass
class Shard:
    """A finished shard, memory-mapped."""
    name: str
    ids: np.ndarray
    starts: np.ndarray
    sentences: np.ndarray
    documents: np.ndarray

    @property
    def n_documents(self) -> int:
        return len(self.documents) - 1

    def document_sentences(self, doc: int) -> tuple[int, int]:
        return int(self.documents[doc]), int(self.documents[doc + 1])


def load_shard(directory: Path, name: str) -> Shard:
    arrays = {}
    for key in ARRAYS:
        path = directory / f"{name}.{key}.npy"
        try:
            arrays[key] = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as error:
            raise ShardError(f"{path}: cannot read shard array ({error})") from None
    shard = Shard(name, **arrays)
    if not (len(shard.ids) == len(shard.starts) and shard.sentences[-1] == len(shard.ids)
            and shard.documents[-1] == len(shard.sentences) - 1):
        raise ShardError(f"{directory / name}: arrays disagree in length (damaged shard)")
    return shard


def read_manifest(directory: str | os.PathLike) -> dict:
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        hint = (" (an unfinished prepare: run it again to finish)"
                if (Path(directory) / "settings.json").is_file() else "")
        raise ShardError(f"{path}: no manifest; not a prepared directory{hint}")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ShardError(f"{path}: not a {FORMAT} v{VERSION} manifest")
    return manifest


def load_shards(directory: str | os.PathLike) -> tuple[dict, list[Shard]]:
    """The manifest and all shards of a prepared directory."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    return manifest, [load_shard(directory, entry["name"]) for entry in manifest["shards"]]

"""The local model store: a zoo name (or alias, or directory) -> a checkpoint directory.

A name resolves, in order, to: an existing directory; the store (`$PADDLE_WWM_HOME/models/NAME`,
default `~/.cache/paddle_wwm`); PaddleNLP's and Hugging Face's caches (converted into the store on
the fly); a download (:mod:`paddle_wwm.downloads`): the sources are tried in order, Hugging Face
(`$HF_ENDPOINT` for a mirror) then PaddleNLP's hosting (`$PADDLE_WWM_SOURCES` reorders them), with
a per-file fallback: each file comes from the first source that has it. PaddleNLP serves no config,
so the zoo's own (configs/models/NAME.json) is written when no source supplied one. Offline with
nothing found, the error lists what was tried and the one command that fixes it.

`import_model` puts any checkpoint into the store: a directory in any layout, or the seed's zip
(or a tar.gz) as downloaded.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from paddle_wwm import downloads, zoo
from paddle_wwm.checkpoints.archives import unpacked_checkpoint
from paddle_wwm.checkpoints.layouts import Checkpoint, CheckpointError, read_checkpoint, write_checkpoint
from paddle_wwm.checkpoints.loading import load_checkpoint_into
from paddle_wwm.modeling.config import BertConfig
from paddle_wwm.zoo import ModelNotFoundError, ZooEntry


def home() -> Path:
    return Path(os.environ.get("PADDLE_WWM_HOME", Path.home() / ".cache" / "paddle_wwm")).expanduser()


def store_dir(name: str) -> Path:
    return home() / "models" / zoo.entry(name).name


def in_store(name: str) -> Path | None:
    """The store's directory of a zoo model if it holds its weights, else None."""
    directory = store_dir(name)
    return directory if (directory / "model.safetensors").is_file() and (directory / "config.json").is_file() else None


def _paddlenlp_cache(item: ZooEntry) -> Path | None:
    if not item.paddlenlp_name:
        return None
    root = Path(os.environ.get("PPNLP_HOME", Path.home() / ".paddlenlp")).expanduser() / "models"
    directory = root / item.paddlenlp_name
    has_weights = any((directory / f).is_file() for f in ("model_state.pdparams", "model.safetensors"))
    return directory if has_weights and (directory / "config.json").is_file() else None


def _hf_cache(item: ZooEntry) -> Path | None:
    hub = os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    snapshots = Path(hub).expanduser() / f"models--{item.hf_repo.replace('/', '--')}" / "snapshots"
    if not snapshots.is_dir():
        return None
    for snapshot in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        has_weights = any((snapshot / f).exists() for f in ("model.safetensors", "pytorch_model.bin"))
        if has_weights and (snapshot / "config.json").exists():
            return snapshot
    return None


# -- download: fetch_entry_files is the one download boundary ---------------------------------------
def download_dir(name: str) -> Path:
    """Where a zoo model's files are downloaded to before conversion; kept after a failure, so that
    the next attempt resumes the partial files (`*.part`)."""
    return home() / "downloads" / zoo.entry(name).name


def fetch_entry_files(item: ZooEntry, directory: Path, sources=None) -> Path:
    """Fetch a zoo model's vocab, weights and config into `directory` (`sources`: keys of
    downloads.SOURCE_KEYS in the order to try; default: all, see the module docstring). Raises
    downloads.DownloadError (an OSError) listing every URL tried when they cannot be fetched."""
    downloads.download_zoo_model(item.name, directory, keys=sources)
    if not any((directory / name).is_file() for name in ("config.json", "bert_config.json")):
        shutil.copyfile(zoo.config_path(item.name), directory / "config.json")  # PaddleNLP's hosting has none
    return directory


def download(name: str, sources=None, force: bool = False) -> Path:
    """Download a zoo model into the store (unless it is there already and not `force`d); its directory."""
    item = zoo.entry(name)
    if not force and (found := in_store(item.name)) is not None:
        return found
    directory = download_dir(item.name)
    if force:
        shutil.rmtree(directory, ignore_errors=True)
    out = import_model(item.name, fetch_entry_files(item, directory, sources), overwrite=True)
    shutil.rmtree(directory, ignore_errors=True)
    return out


# -- import and resolve ---------------------------------------------------------------------------
def import_model(name: str, source, overwrite: bool = False) -> Path:
    """Convert a checkpoint (a directory of any layout, a TF checkpoint prefix, or a zip/tar.gz of
    one) into the store under a zoo name, after checking that its sizes are the zoo model's."""
    item = zoo.entry(name)
    home().mkdir(parents=True, exist_ok=True)
    expected = zoo.zoo_config(item.name)
    keys = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")
    # extracted beside the store (archives are big); the vocab is copied from there: write inside
    with unpacked_checkpoint(source, work_dir=home()) as directory:
        checkpoint = read_checkpoint(directory)
        got = checkpoint.config
        differ = [f"{k} {getattr(got, k)} (zoo: {getattr(expected, k)})" for k in keys
                  if getattr(got, k) != getattr(expected, k)]
        if differ:
            raise CheckpointError(f"{source}: is not {item.name}: " + ", ".join(differ))
        return write_checkpoint(checkpoint, store_dir(item.name), overwrite=overwrite)


def resolve(name_or_path) -> Path:
    """A checkpoint directory for a path, zoo name or alias (see the module docstring)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = zoo.canonical_name(str(name_or_path))
    if name is None:
        raise ModelNotFoundError(f"{name_or_path!r} is neither an existing path nor a zoo name "
                                 f"(known: {zoo.known_names()})")
    item = zoo.entry(name)
    tried = [f"the store {store_dir(name)}"]
    if (found := in_store(name)) is not None:
        return found
    for label, found in (("PaddleNLP's cache", _paddlenlp_cache(item)), ("Hugging Face's cache", _hf_cache(item))):
        tried.append(label)
        if found is not None:
            return import_model(name, found)
    if downloads.offline():
        tried.append("no download (offline mode is set)")
    else:
        try:
            return download(name)
        except downloads.DownloadError as error:
            tried.append(f"downloading {item.hf_repo} (" + "; ".join(error.tried or [str(error)]) + ")")
    raise ModelNotFoundError(
        f"no weights for {name}: tried " + "; ".join(tried) + ". Fix: download the checkpoint "
        f"(e.g. {item.hf_repo} from Hugging Face, or the seed's TensorFlow release zip) on a machine that can, "
        f"then run: paddle-wwm import {name} PATH_TO_CHECKPOINT")


def load_pretrained(cls, name_or_path, **kwargs):
    """`cls.from_pretrained(name_or_path, ...)`: ``name_or_path`` is a zoo name, an alias, a
    directory, or a Checkpoint already read."""
    checkpoint = name_or_path if isinstance(name_or_path, Checkpoint) else read_checkpoint(resolve(name_or_path))
    return load_checkpoint_into(cls, checkpoint, **kwargs)


# -- the listing of `paddle-wwm zoo` ----------------------------------------------------------------
def count_parameters(config: BertConfig) -> int:
    """Parameters of the encoder with pooler (what the seed's table counts), from the built
    model: under LazyGuard paddle creates the parameters' shapes without allocating them."""
    import paddle

    from paddle_wwm.modeling.bert import BertModel

    with paddle.LazyGuard():
        model = BertModel(config)
    return sum(int(p.size) for p in model.parameters())


def listing() -> list[dict]:
    rows = []
    for item in zoo.ZOO:
        config = zoo.zoo_config(item.name)
        rows.append({
            "name": item.name, "hf_repo": item.hf_repo, "paddlenlp_name": item.paddlenlp_name,
            "aliases": list(item.aliases), "layers": config.num_hidden_layers, "hidden": config.hidden_size,
            "heads": config.num_attention_heads, "parameters": count_parameters(config),
            "seed_parameters": item.seed_params, "in_store": in_store(item.name) is not None,
            "description": item.description,
        })
    return rows


def listing_table() -> str:
    """The listing as `paddle-wwm zoo` prints it: a table, then where the store is."""
    rows = listing()
    for row in rows:
        row["params"] = f"{row['parameters'] / 1e6:.1f}M"
        row["stored"] = "yes" if row["in_store"] else "-"
    columns = [("name", "name"), ("layers", "layers"), ("hidden", "hidden"), ("heads", "heads"), ("params", "params"),
               ("seed_parameters", "seed says"), ("hf_repo", "Hugging Face"), ("stored", "in store")]
    widths = [max(len(title), *(len(str(row[key])) for row in rows)) for key, title in columns]
    lines = ["  ".join(title.ljust(w) for (_, title), w in zip(columns, widths))]
    lines += ["  ".join(str(row[key]).ljust(w) for (key, _), w in zip(columns, widths)) for row in rows]
    return "\n".join(lines) + f"\n\nstore: {home() / 'models'}  (paddle-wwm import NAME PATH adds a checkpoint)"

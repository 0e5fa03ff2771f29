"""The model zoo: names, aliases, configs, weight sources, and the local model store.

A name resolves, in order, to: an existing directory; the store (`$PADDLE_WWM_HOME/models/NAME`,
default `~/.cache/paddle_wwm`); PaddleNLP's and Hugging Face's caches (converted into the store on
the fly); a download from the Hugging Face hub (`$HF_ENDPOINT` to use a mirror). Offline with
nothing found, the error lists what was tried and the one command that fixes it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from paddle_wwm.modeling.config import BertConfig

# configs/ sits beside the package in a checkout; an installed wheel carries it as paddle_wwm/configs.
CONFIG_DIR = next((d for d in (Path(__file__).resolve().parent.parent / "configs" / "models",
                               Path(__file__).resolve().parent / "configs" / "models") if d.is_dir()),
                  Path(__file__).resolve().parent.parent / "configs" / "models")


@dataclass(frozen=True)
class ZooEntry:
    name: str
    hf_repo: str
    paddlenlp_name: str | None
    aliases: tuple[str, ...]
    description: str
    seed_params: str  # the parameter count the seed's README gives, for the listing


ZOO = (
    ZooEntry("chinese-bert-wwm", "hfl/chinese-bert-wwm", "bert-wwm-chinese", ("bert-wwm", "bert-wwm-chinese"),
             "BERT-wwm: Chinese Wikipedia (0.4B tokens), LAMB, NSP, from Google BERT", "102M"),
    ZooEntry("chinese-bert-wwm-ext", "hfl/chinese-bert-wwm-ext", "bert-wwm-ext-chinese",
             ("bert-wwm-ext", "bert-wwm-ext-chinese"), "BERT-wwm-ext: 5.4B tokens, LAMB, 1M@128 + 400K@512", "102M"),
    ZooEntry("chinese-roberta-wwm-ext", "hfl/chinese-roberta-wwm-ext", "hfl/roberta-wwm-ext",
             ("roberta-wwm-ext",), "RoBERTa-wwm-ext: AdamW, no NSP, 1M steps at 512", "102M"),
    ZooEntry("chinese-roberta-wwm-ext-large", "hfl/chinese-roberta-wwm-ext-large", "hfl/roberta-wwm-ext-large",
             ("roberta-wwm-ext-large",), "RoBERTa-wwm-ext-large: 24 layers, random init, 2M steps", "325M"),
    ZooEntry("rbt3", "hfl/rbt3", "hfl/rbt3", (), "RBT3: first 3 layers of RoBERTa-wwm-ext, 1M more steps", "38M"),
    ZooEntry("rbtl3", "hfl/rbtl3", "hfl/rbtl3", (), "RBTL3: first 3 layers of RoBERTa-wwm-ext-large", "61M"),
    ZooEntry("rbt4", "hfl/rbt4", None, (), "RBT4: 4 layers of RoBERTa-wwm-ext", ""),
    ZooEntry("rbt6", "hfl/rbt6", None, (), "RBT6: 6 layers of RoBERTa-wwm-ext", ""),
    ZooEntry("bert-base-chinese", "google-bert/bert-base-chinese", "bert-base-chinese", ("bert-base-chinese",),
             "Google's Chinese BERT-base (the baseline)", "102M"),
)
_BY_NAME = {entry.name: entry for entry in ZOO}
_ALIASES = {alias: entry.name for entry in ZOO
            for alias in (entry.hf_repo, entry.paddlenlp_name, *entry.aliases) if alias}


class ModelNotFoundError(FileNotFoundError):
    def __str__(self):
        return self.args[0]


def canonical_name(name: str) -> str | None:
    return name if name in _BY_NAME else _ALIASES.get(name)


def entry(name: str) -> ZooEntry:
    found = canonical_name(name)
    if found is None:
        raise KeyError(f"{name!r} is not in the zoo; known names: {', '.join(_BY_NAME)}")
    return _BY_NAME[found]


def config_path(name: str) -> Path:
    return CONFIG_DIR / f"{entry(name).name}.json"


def zoo_config(name: str) -> BertConfig:
    return BertConfig.from_file(config_path(name))


def home() -> Path:
    return Path(os.environ.get("PADDLE_WWM_HOME", Path.home() / ".cache" / "paddle_wwm")).expanduser()


def store_dir(name: str) -> Path:
    return home() / "models" / entry(name).name


def _in_store(name: str) -> Path | None:
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


def offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("PADDLE_WWM_OFFLINE", "HF_HUB_OFFLINE"))


def _fetch(url: str, destination: Path, timeout: float = 30.0) -> None:
    from tqdm import tqdm

    tmp = destination.with_name(destination.name + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as handle:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name, leave=False) as bar:
            while chunk := response.read(1 << 20):
                handle.write(chunk)
                bar.update(len(chunk))
    os.replace(tmp, destination)


def download(item: ZooEntry, directory: Path) -> Path:
    """Fetch the Hugging Face files of a zoo model into `directory` (config, vocab, weights)."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    base = f"{endpoint}/{item.hf_repo}/resolve/main"
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "vocab.txt"):
        _fetch(f"{base}/{name}", directory / name)
    errors = []
    for name in ("model.safetensors", "pytorch_model.bin"):
        try:
            _fetch(f"{base}/{name}", directory / name)
            return directory
        except urllib.error.HTTPError as error:
            errors.append(f"{name}: HTTP {error.code}")
    raise urllib.error.URLError(f"no weights at {base} ({'; '.join(errors)})")


def import_model(name: str, source, overwrite: bool = False) -> Path:
    """Convert a checkpoint directory of any layout into the store under a zoo name."""
    from paddle_wwm.checkpoints.layouts import CheckpointError, read_checkpoint, write_checkpoint

    item = entry(name)
    checkpoint = read_checkpoint(source)
    expected = zoo_config(item.name)
    got = checkpoint.config
    keys = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")
    differ = [f"{k} {getattr(got, k)} (zoo: {getattr(expected, k)})" for k in keys if getattr(got, k) != getattr(expected, k)]
    if differ:
        raise CheckpointError(f"{source}: is not {item.name}: " + ", ".join(differ))
    return write_checkpoint(checkpoint, store_dir(item.name), overwrite=overwrite)


def resolve(name_or_path) -> Path:
    """A checkpoint directory for a path, zoo name or alias (see the module docstring)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = canonical_name(str(name_or_path))
    if name is None:
        raise ModelNotFoundError(f"{name_or_path!r} is neither an existing path nor a zoo name "
                                 f"(known: {', '.join(_BY_NAME)})")
    item = _BY_NAME[name]
    tried = [f"the store {store_dir(name)}"]
    if (found := _in_store(name)) is not None:
        return found
    for label, found in (("PaddleNLP's cache", _paddlenlp_cache(item)), ("Hugging Face's cache", _hf_cache(item))):
        tried.append(label)
        if found is not None:
            return import_model(name, found)
    if offline():
        tried.append("no download (offline mode is set)")
    else:
        tmp = Path(tempfile.mkdtemp(prefix="download-", dir=_ensure(home())))
        try:
            return import_model(name, download(item, tmp), overwrite=True)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            tried.append(f"downloading {item.hf_repo} ({getattr(error, 'reason', error)})")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise ModelNotFoundError(
        f"no weights for {name}: tried " + "; ".join(tried) + ". Fix: download the checkpoint "
        f"(e.g. {item.hf_repo} from Hugging Face, or the seed's TensorFlow release) on a machine that can, "
        f"then run: paddle-wwm import {name} PATH_TO_CHECKPOINT")


def _ensure(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


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
    for item in ZOO:
        config = zoo_config(item.name)
        rows.append({
            "name": item.name, "hf_repo": item.hf_repo, "paddlenlp_name": item.paddlenlp_name,
            "aliases": list(item.aliases), "layers": config.num_hidden_layers, "hidden": config.hidden_size,
            "heads": config.num_attention_heads, "parameters": count_parameters(config),
            "seed_parameters": item.seed_params, "in_store": _in_store(item.name) is not None,
            "description": item.description,
        })
    return rows


def write_config_files() -> None:
    """Maintenance: (re)write configs/models/*.json from the architecture of each entry."""
    base = dict(vocab_size=21128, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                intermediate_size=3072)
    large = dict(base, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
    shapes = {"chinese-roberta-wwm-ext-large": large, "rbtl3": dict(large, num_hidden_layers=3),
              "rbt3": dict(base, num_hidden_layers=3), "rbt4": dict(base, num_hidden_layers=4),
              "rbt6": dict(base, num_hidden_layers=6)}
    CONFIG_DIR.mkdir(parents=True, exist_ok=True)
    for item in ZOO:
        config = BertConfig(**shapes.get(item.name, base))
        text = json.dumps(config.to_hf_dict("BertForMaskedLM"), indent=2) + "\n"
        (CONFIG_DIR / f"{item.name}.json").write_text(text, encoding="utf-8")

"""The model zoo's registry: names, aliases, where each model is published, and its architecture
(``configs/models/NAME.json``). Paddle-free and file-free beyond those configs: finding, downloading
and importing the weights of a name is :mod:`paddle_wwm.store`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paddle_wwm.errors import PaddleWwmError
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
    ZooEntry("rbt4", "hfl/rbt4", "hfl/rbt4", (), "RBT4: 4 layers of RoBERTa-wwm-ext", ""),
    ZooEntry("rbt6", "hfl/rbt6", "hfl/rbt6", (), "RBT6: 6 layers of RoBERTa-wwm-ext", ""),
    ZooEntry("bert-base-chinese", "google-bert/bert-base-chinese", "bert-base-chinese", ("bert-base-chinese",),
             "Google's Chinese BERT-base (the baseline)", "102M"),
)
_BY_NAME = {entry.name: entry for entry in ZOO}
_ALIASES = {alias: entry.name for entry in ZOO
            for alias in (entry.hf_repo, entry.paddlenlp_name, *entry.aliases) if alias}


class UnknownModelError(PaddleWwmError, KeyError):
    """A name that is neither a zoo name nor an alias."""

    def __str__(self):
        return self.args[0]


class ModelNotFoundError(PaddleWwmError, FileNotFoundError):
    """No weights for a name: the message lists where the store looked and the command that fixes it."""

    def __str__(self):
        return self.args[0]


def canonical_name(name: str) -> str | None:
    return name if name in _BY_NAME else _ALIASES.get(name)


def entry(name: str) -> ZooEntry:
    found = canonical_name(name)
    if found is None:
        raise UnknownModelError(f"{name!r} is not in the zoo; known names: {', '.join(_BY_NAME)}")
    return _BY_NAME[found]


def config_path(name: str) -> Path:
    return CONFIG_DIR / f"{entry(name).name}.json"


def zoo_config(name: str) -> BertConfig:
    return BertConfig.from_file(config_path(name))


def known_names() -> str:
    return ", ".join(_BY_NAME)

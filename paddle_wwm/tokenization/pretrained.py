"""A tokenizer directory: ``vocab.txt``, ``tokenizer_config.json`` and ``special_tokens_map.json``,
in the form that transformers' and PaddleNLP's ``BertTokenizer.from_pretrained`` read too."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .vocab import CLS_TOKEN, MASK_TOKEN, PAD_TOKEN, SEP_TOKEN, UNK_TOKEN, VocabError, write_vocab

VOCAB_NAME = "vocab.txt"
CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_NAME = "special_tokens_map.json"

SPECIAL_TOKENS_MAP = {"unk_token": UNK_TOKEN, "sep_token": SEP_TOKEN, "pad_token": PAD_TOKEN,
                      "cls_token": CLS_TOKEN, "mask_token": MASK_TOKEN}


def write_tokenizer_files(directory: str | os.PathLike, tokens: list[str], do_lower_case: bool,
                          model_max_length: int) -> tuple[Path, ...]:
    """Write the three files of a tokenizer directory (created if needed); returns their paths."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": do_lower_case,
        "do_basic_tokenize": True,
        "never_split": None,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": True,
        **SPECIAL_TOKENS_MAP,
    }
    written = [write_vocab(tokens, out / VOCAB_NAME)]
    for name, content in ((CONFIG_NAME, config), (SPECIAL_TOKENS_NAME, SPECIAL_TOKENS_MAP)):
        path = out / name
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return tuple(written)


def read_tokenizer_config(directory: Path) -> dict:
    """Constructor arguments from ``tokenizer_config.json`` (``{}`` when there is none).

    Reads ``do_lower_case`` and ``model_max_length``; settings this tokenizer cannot honour
    (other special tokens, no CJK splitting, accent stripping unlike lower-casing) are errors.
    """
    path = directory / CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VocabError(f"{str(path)!r} is not a valid JSON file: {e}") from None
    if not isinstance(config, dict):
        raise VocabError(f"{str(path)!r} must hold a JSON object, got {type(config).__name__}")
    kwargs = {}
    if "do_lower_case" in config:
        kwargs["do_lower_case"] = bool(config["do_lower_case"])
    max_len = config.get("model_max_length")
    if isinstance(max_len, int) and not isinstance(max_len, bool) and max_len >= 2:
        kwargs["max_len"] = max_len
    problems = []
    for key, want in SPECIAL_TOKENS_MAP.items():
        got = config.get(key, want)
        got = got.get("content") if isinstance(got, dict) else got
        if got != want:
            problems.append(f"{key} is {got!r} (supported: {want!r})")
    if config.get("tokenize_chinese_chars", True) is False:
        problems.append("tokenize_chinese_chars is false (supported: true)")
    strip = config.get("strip_accents")
    if strip is not None and bool(strip) != kwargs.get("do_lower_case", True):
        problems.append(f"strip_accents is {strip!r} (supported: null, or the value of do_lower_case)")
    if problems:
        raise VocabError(f"{str(path)!r}: " + "; ".join(problems))
    return kwargs

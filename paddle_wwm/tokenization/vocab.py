"""The BERT vocabulary file (``vocab.txt``): its special tokens, reading, validating and writing."""
from __future__ import annotations

import os
from pathlib import Path

from paddle_wwm.errors import PaddleWwmError

DEFAULT_VOCAB_FILE = Path(__file__).resolve().parent.parent / "data" / "vocab.txt"

PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN)


class VocabError(PaddleWwmError, ValueError):
    """A vocabulary file that cannot be used (missing, empty or malformed)."""


def load_vocab(vocab_file: str | os.PathLike) -> dict[str, int]:
    """Read a BERT ``vocab.txt`` (one token a line, id = line number) and validate it."""
    path = Path(vocab_file)
    if not path.is_file():
        raise VocabError(f"vocab file {str(path)!r} does not exist or is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise VocabError(f"vocab file {str(path)!r} is not valid UTF-8: {e}") from None
    if text.startswith("\ufeff"):  # a BOM written by some editors is not part of token 0
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the usual trailing newline
        lines.pop()
    if not lines:
        raise VocabError(f"vocab file {str(path)!r} is empty")
    vocab: dict[str, int] = {}
    for index, line in enumerate(lines):
        token = line.rstrip("\r")
        if token == "":
            raise VocabError(f"vocab file {str(path)!r}: line {index + 1} is empty (every line must hold one token)")
        if token in vocab:
            raise VocabError(
                f"vocab file {str(path)!r}: duplicate token {token!r} on lines {vocab[token] + 1} and {index + 1}"
            )
        vocab[token] = index
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise VocabError(f"vocab file {str(path)!r} lacks the special token(s) {', '.join(missing)}")
    return vocab


def write_vocab(tokens: list[str], path: str | os.PathLike) -> Path:
    """Write ``tokens`` one a line, id order (what :func:`load_vocab` reads back)."""
    path = Path(path)
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8", newline="\n")
    return path

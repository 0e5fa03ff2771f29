"""``chinese_ref`` files, the word-boundary format of transformers' Chinese WWM example.

transformers' ``examples/research_projects/mlm_wwm/run_chinese_ref.py`` writes, for each
non-blank line of a text file, one JSON list: the positions (in ``[CLS] tokens [SEP]``, the
line truncated to 512 tokens) of the characters that continue a multi-character Chinese word.
``run_mlm_wwm.py`` passes them to ``DataCollatorForWholeWordMask``, which treats a token at a
listed position as a ``##`` piece of the word before it.

How run_chinese_ref finds them, reproduced here so that exported files are the same: the words of
a line that are longer than one character and all Chinese form a *set*; then, left to right over
the tokens, the longest run of tokens starting at a Chinese token whose concatenation is in the
set is taken as one word. Because it matches the set rather than the positions, a word the
segmenter found once is also matched where the segmenter cut the same characters differently;
our own shards use positional boundaries (:mod:`paddle_wwm.wwm.boundaries`), which differ from
these refs only there.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Sequence

import numpy as np

from paddle_wwm.atomic_files import write_text_atomic
from paddle_wwm.errors import PaddleWwmError
from paddle_wwm.tokenization import is_chinese_char

MAX_LENGTH = 512  # run_chinese_ref tokenizes with truncation=True, max_length=512


class ChineseRefError(PaddleWwmError, ValueError):
    """A malformed chinese_ref file (the message names the file and line)."""


def _all_chinese(text: str) -> bool:
    return all(is_chinese_char(ord(ch)) for ch in text)


def chinese_words(words: Iterable[str]) -> set[str]:
    """The words run_chinese_ref keeps: longer than one character, every character Chinese."""
    return {w for w in words if len(w) > 1 and _all_chinese(w)}


def chinese_ref(tokens: Sequence[str], words: Iterable[str]) -> list[int]:
    """Positions of the tokens that continue a Chinese word, as run_chinese_ref computes them.

    Args:
        tokens: the line's tokens with ``[CLS]`` and ``[SEP]``.
        words: the segmenter's words of the line.
    """
    word_set = chinese_words(words)
    if not word_set:
        return []
    longest = max(len(w) for w in word_set)
    refs = []
    start, end = 0, len(tokens)
    while start < end:
        step = 1
        if _all_chinese(tokens[start]):
            for size in range(min(end - start, longest), 1, -1):
                if "".join(tokens[start:start + size]) in word_set:
                    refs.extend(j for j in range(start + 1, start + size)
                                if len(tokens[j]) == 1 and is_chinese_char(ord(tokens[j])))
                    step = size
                    break
        start += step
    return refs


def ref_lines(text: str) -> list[str]:
    """The lines run_chinese_ref (and run_mlm_wwm) use: stripped, blank ones dropped."""
    return [line.strip() for line in text.splitlines() if line and not line.isspace()]


def write_chinese_ref(path: str | os.PathLike, refs: Iterable[Sequence[int]]) -> None:
    """Write one JSON list per line, atomically (a temporary file renamed into place)."""
    write_text_atomic(path, "".join(json.dumps(list(ref)) + "\n" for ref in refs))


def read_chinese_ref(path: str | os.PathLike) -> list[list[int]]:
    """Read a chinese_ref file; a line that is not a JSON list of ints is an error naming it."""
    refs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                ref = json.loads(line)
            except json.JSONDecodeError as error:
                raise ChineseRefError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(ref, list) or not all(isinstance(i, int) and i > 0 for i in ref):
                raise ChineseRefError(f"{path}:{number}: expected a list of positive token positions, "
                                      f"got {line.strip()[:80]!r}")
            refs.append(ref)
    return refs


def word_starts_from_ref(input_ids: Sequence[int], ref: Sequence[int], is_subword: np.ndarray,
                         where: str = "") -> np.ndarray:
    """Word-start flags of ``[CLS] tokens [SEP]`` from a ref: the collator's reading of it.

    A token starts a word unless it is a ``##`` piece or its position is in the ref.
    """
    ids = np.asarray(input_ids, dtype=np.int64)
    starts = ~is_subword[ids]
    ref = np.asarray(ref, dtype=np.int64)
    if ref.size and ref.max() >= len(ids) - 1:
        raise ChineseRefError(f"{where}: ref position {int(ref.max())} is beyond the line's "
                              f"{len(ids) - 2} tokens: the ref file does not belong to this text or vocabulary")
    starts[ref] = False
    return starts


def refs_for_lines(lines: Sequence[str], words: Sequence[Sequence[str]], tokenizer) -> list[list[int]]:
    """run_chinese_ref's output for ``lines`` (already filtered by :func:`ref_lines`), given each
    line's segmentation and our tokenizer (which gives the reference tokenizer's ids)."""
    refs = []
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for (ids, _), line_words in zip(tokenizer.encode_plain(lines), words):
        tokens = tokenizer.convert_ids_to_tokens([cls, *ids[:MAX_LENGTH - 2], sep])
        refs.append(chinese_ref(tokens, line_words))
    return refs

"""Word boundaries on WordPiece tokens: which tokens begin a word.

A segmenter gives words (character strings); the tokenizer gives tokens with character offsets
into the same text. A token begins a word when

* it is not a ``##`` continuation piece (an English word or digit run cut by WordPiece stays one
  unit, as in Google's whole-word masking), and
* its first character is the first character of a segmenter word (Chinese words of several
  characters, one token per character, become one unit).

Everything else (punctuation, ``[UNK]``, a digit run) follows from the offsets: a token is never
split, and a segmenter boundary that falls inside a token is ignored. Words must be in-order
substrings of the text (jieba returns an exact partition, LTP drops whitespace); a segmentation
that cannot be aligned falls back to one word per token for that text and is counted.

The work is done for a whole batch of sentences at once: word lengths and token offsets are
flattened into numpy arrays so the per-sentence Python cost is a join and a comparison.
"""
from __future__ import annotations

from itertools import accumulate, chain
from typing import Sequence

import numpy as np


def subword_flags(vocab: dict[str, int]) -> np.ndarray:
    """Bool per vocabulary id: True for ``##`` continuation pieces."""
    flags = np.zeros(max(vocab.values()) + 1, dtype=bool)
    for token, index in vocab.items():
        if token.startswith("##") and len(token) > 2:
            flags[index] = True
    return flags


def _aligned_word_lengths(text: str, words: Sequence[str]) -> list[int] | None:
    """Lengths of a partition of ``text`` whose parts begin where the words begin.

    Whitespace the segmenter dropped joins the word before it. None when a word is not found in
    order (the segmenter changed characters).
    """
    starts = []
    cursor = 0
    for word in words:
        if not word or word.isspace():
            continue
        index = text.find(word, cursor)
        if index < 0 or text[cursor:index].strip():
            return None
        starts.append(index)
        cursor = index + len(word)
    if text[cursor:].strip():
        return None
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return [b - a for a, b in zip(starts, starts[1:] + [len(text)])]


def word_starts_batch(texts: Sequence[str], words: Sequence[Sequence[str]],
                      encoded: Sequence[tuple[list[int], list]], is_subword: np.ndarray
                      ) -> tuple[list[np.ndarray], int]:
    """Word-start flags of the tokens of each text.

    Args:
        texts: the sentences.
        words: one word list per sentence (a segmenter's output).
        encoded: ``(ids, offsets)`` per sentence, without special tokens
            (:meth:`BertTokenizer.encode_plain` with offsets).
        is_subword: :func:`subword_flags` of the vocabulary.

    Returns (flags per sentence as bool arrays, number of sentences that could not be aligned).
    """
    lengths: list[list[int]] = []
    misaligned = 0
    for text, text_words in zip(texts, words):
        if "".join(text_words) == text:
            lengths.append([len(w) for w in text_words])
            continue
        aligned = _aligned_word_lengths(text, text_words)
        if aligned is None:
            misaligned += 1
            aligned = [1] * len(text)
        lengths.append(aligned)
    n_chars = sum(len(t) for t in texts)
    char_starts = np.zeros(n_chars + 1, dtype=bool)
    word_ends = np.fromiter(accumulate(chain.from_iterable(lengths)), dtype=np.int64)
    char_starts[0] = True
    char_starts[word_ends] = True
    text_bases = np.fromiter(accumulate((len(t) for t in texts[:-1]), initial=0), dtype=np.int64,
                             count=len(texts))
    token_counts = np.fromiter((len(ids) for ids, _ in encoded), dtype=np.int64, count=len(encoded))
    n_tokens = int(token_counts.sum())
    ids = np.fromiter(chain.from_iterable(ids for ids, _ in encoded), dtype=np.int64, count=n_tokens)
    first_chars = np.fromiter((o[0] for _, offsets in encoded for o in offsets), dtype=np.int64, count=n_tokens)
    token_chars = np.repeat(text_bases, token_counts) + first_chars
    starts = char_starts[token_chars] & ~is_subword[ids]
    return np.split(starts, np.cumsum(token_counts)[:-1]), misaligned

"""Packing a shard's sentences into training sequences, after Google's create_pretraining_data.

With NSP (BERT-wwm): per document, sentences are gathered until ``target_length`` tokens
(``max_seq_len - 3``, or with probability ``short_seq_prob`` a random length in ``[2, that]``, drawn
once per document as Google does), cut at a random sentence into A and B; with probability 0.5, or
when there is a single sentence, B is taken from a random other document and the unused sentences
go back to the pool. The pair is then truncated to fit by removing tokens one at a time from the
longer side, at its front or back at random (``truncate_seq_pair``).

Without NSP (RoBERTa-wwm-ext): sentences of one document are packed up to ``max_seq_len - 2``
tokens as a single segment (RoBERTa's DOC-SENTENCES): a sentence that would overflow starts the
next sequence, and a single sentence longer than that is truncated at the back.

Because a document's sentences are contiguous in the shard, every segment is a token range, and an
instance is five integers: ``a_start, a_end, b_start, b_end, is_random_next`` (``b_start == b_end``
without B). Random choices come from ``random.Random`` seeded by (seed, round, shard), so the
packing of a round is reproducible and a new round (epoch, or dupe copy) packs anew.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from paddle_wwm.wwm.shards import Shard

FIELDS = ("a_start", "a_end", "b_start", "b_end", "is_random_next")


@dataclass(frozen=True)
class PackingConfig:
    max_seq_len: int = 128
    short_seq_prob: float = 0.1
    nsp: bool = True

    def __post_init__(self):
        if self.max_seq_len < 5:
            raise ValueError(f"max_seq_len must be at least 5, got {self.max_seq_len}")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise ValueError(f"short_seq_prob must be in [0, 1], got {self.short_seq_prob}")


def _truncate_pair(a: list[int], b: list[int], max_tokens: int, rng: random.Random) -> None:
    """Google's truncate_seq_pair on [start, end) ranges, in place."""
    while (a[1] - a[0]) + (b[1] - b[0]) > max_tokens:
        longer = a if (a[1] - a[0]) > (b[1] - b[0]) else b
        if rng.random() < 0.5:
            longer[0] += 1
        else:
            longer[1] -= 1


def build_instances(shard: Shard, config: PackingConfig, seed: int, round_: int) -> np.ndarray:
    """[N, 5] int64 instances of one shard for one round."""
    rng = random.Random(f"{seed}/{round_}/{shard.name}")
    offsets = shard.sentences.tolist()
    doc_offsets = shard.documents.tolist()
    n_docs = len(doc_offsets) - 1
    out: list[tuple[int, int, int, int, int]] = []
    for doc in range(n_docs):
        first, last = doc_offsets[doc], doc_offsets[doc + 1]
        if config.nsp:
            _pack_pairs(doc, first, last, offsets, doc_offsets, n_docs, config, rng, out)
        else:
            _pack_single(first, last, offsets, config, rng, out)
    return np.asarray(out, dtype=np.int64).reshape(-1, len(FIELDS))


def _pack_single(first: int, last: int, offsets: list[int], config: PackingConfig,
                 rng: random.Random, out: list) -> None:
    max_tokens = config.max_seq_len - 2
    target = max_tokens
    if rng.random() < config.short_seq_prob:
        target = rng.randint(2, max_tokens)
    begin = first
    for i in range(first, last):
        if i > begin and offsets[i + 1] - offsets[begin] > max_tokens:  # sentence i would not fit
            out.append((offsets[begin], offsets[i], 0, 0, 0))
            begin = i
        if offsets[i + 1] - offsets[begin] >= target or i == last - 1:
            start = offsets[begin]
            out.append((start, min(offsets[i + 1], start + max_tokens), 0, 0, 0))
            begin = i + 1


def _pack_pairs(doc: int, first: int, last: int, offsets: list[int], doc_offsets: list[int],
                n_docs: int, config: PackingConfig, rng: random.Random, out: list) -> None:
    max_tokens = config.max_seq_len - 3
    target = max_tokens
    if rng.random() < config.short_seq_prob:
        target = rng.randint(2, max_tokens)
    chunk_begin = first
    i = first
    while i < last:
        length = offsets[i + 1] - offsets[chunk_begin]
        if i == last - 1 or length >= target:
            n_chunk = i + 1 - chunk_begin
            a_sentences = rng.randint(1, n_chunk - 1) if n_chunk >= 2 else 1
            a = [offsets[chunk_begin], offsets[chunk_begin + a_sentences]]
            random_next = n_chunk == 1 or rng.random() < 0.5
            if random_next and n_docs > 1:
                target_b = target - (a[1] - a[0])
                other = doc
                for _ in range(10):
                    other = rng.randint(0, n_docs - 1)
                    if other != doc:
                        break
                o_first, o_last = doc_offsets[other], doc_offsets[other + 1]
                j = rng.randint(o_first, o_last - 1)
                b = [offsets[j], offsets[j]]
                while j < o_last:
                    b[1] = offsets[j + 1]
                    if b[1] - b[0] >= target_b:
                        break
                    j += 1
                i -= n_chunk - a_sentences  # the unused sentences go back
            else:
                random_next = False
                b = [a[1], offsets[i + 1]]
            if b[1] > b[0]:  # a document of one sentence in a one-document shard has no B
                _truncate_pair(a, b, max_tokens, rng)
                out.append((a[0], a[1], b[0], b[1], int(random_next)))
            chunk_begin = i + 1
        i += 1

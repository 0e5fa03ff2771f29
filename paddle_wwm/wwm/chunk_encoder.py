"""The per-chunk work of ``prepare``: segment, tokenize, find word starts, cut long sentences.

A :class:`ChunkEncoder` is built once per worker process (its tokenizer and segmenter load once)
and then encodes chunk after chunk of whole documents.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from paddle_wwm.wwm.boundaries import subword_flags, word_starts_batch
from paddle_wwm.wwm.chinese_ref import word_starts_from_ref


@dataclass(frozen=True)
class Chunk:
    """Whole documents (lists of sentences) and where they come from; ``refs`` are their
    chinese_ref lines (one document per line), or None to segment them."""
    documents: list[list[str]]
    refs: list[list[int]] | None
    wheres: list[str]
    max_sentence_tokens: int


def cut_long(ids: np.ndarray, starts: np.ndarray, limit: int) -> list[int]:
    """Piece lengths of a sentence cut into pieces of at most ``limit`` tokens, at word starts."""
    pieces = []
    begin = 0
    while len(ids) - begin > limit:
        candidates = np.flatnonzero(starts[begin + 1:begin + limit + 1]) + begin + 1
        end = int(candidates[-1]) if len(candidates) else begin + limit
        pieces.append(end - begin)
        begin = end
    pieces.append(len(ids) - begin)
    return pieces


class ChunkEncoder:
    """Called with ``(shard, chunk)``, returns ``(shard, encoded chunk)``. A None chunk marks the
    end of a shard's chunks and comes back as None, in its place in the order."""

    def __init__(self, vocab_file: str | None, do_lower_case: bool, segmenter_spec: str | None):
        from paddle_wwm.tokenization import BertTokenizer

        self.tokenizer = BertTokenizer(vocab_file, do_lower_case=do_lower_case)
        self.is_subword = subword_flags(self.tokenizer.vocab)
        self.segmenter = None
        if segmenter_spec is not None:
            from paddle_wwm.segmentation import get_segmenter

            self.segmenter = get_segmenter(segmenter_spec)

    def __call__(self, task: tuple[int, Chunk | None]) -> tuple[int, dict | None]:
        shard, chunk = task
        return shard, None if chunk is None else self.encode(chunk)

    def encode(self, chunk: Chunk) -> dict:
        """Token ids, word starts and piece lengths of the documents of one chunk."""
        texts = [s for doc in chunk.documents for s in doc]
        encoded = self.tokenizer.encode_plain(texts, return_offsets=chunk.refs is None)
        timings = {}
        if chunk.refs is None:
            started = time.perf_counter()
            words = self.segmenter.segment(texts)
            timings["segment"] = time.perf_counter() - started
            starts, misaligned = word_starts_batch(texts, words, encoded, self.is_subword)
        else:
            starts, misaligned = self._ref_starts(encoded, chunk), 0
        all_ids, all_starts, pieces, doc_pieces, cut = [], [], [], [], 0
        index = 0
        for doc in chunk.documents:
            n_pieces = 0
            for _ in doc:
                ids = np.asarray(encoded[index][0], dtype=np.int64)
                flags = starts[index]
                index += 1
                if len(ids) == 0:
                    continue
                lengths = cut_long(ids, flags, chunk.max_sentence_tokens)
                cut += len(lengths) > 1
                all_ids.append(ids)
                all_starts.append(flags)
                pieces.extend(lengths)
                n_pieces += len(lengths)
            doc_pieces.append(n_pieces)
        empty = np.zeros(0, dtype=np.int64)
        return {"ids": np.concatenate(all_ids) if all_ids else empty,
                "starts": np.concatenate(all_starts).astype(np.uint8) if all_starts else empty.astype(np.uint8),
                "pieces": np.asarray(pieces, dtype=np.int64), "doc_pieces": doc_pieces,
                "misaligned": misaligned, "cut": cut, "timings": timings}

    def _ref_starts(self, encoded: list, chunk: Chunk) -> list[np.ndarray]:
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        starts = []
        for (ids, _), ref, where in zip(encoded, chunk.refs, chunk.wheres):
            kept = ids[:510]  # the refs cover the 512-token window run_chinese_ref tokenized
            flags = word_starts_from_ref([cls_id, *kept, sep_id], ref, self.is_subword, where=where)[1:-1]
            starts.append(np.concatenate([flags, ~self.is_subword[np.asarray(ids[510:], dtype=np.int64)]]))
        return starts

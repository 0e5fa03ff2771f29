"""``paddle-wwm prepare``: corpus -> segment -> tokenize -> word starts -> shards.

Documents are assigned to shards by a running count of characters, a function of the input
alone, so a rerun knows which documents belong to finished shards and skips them without
segmenting again (resume), and a finished run does nothing at all (idempotent).

The work (segmentation, tokenization, alignment) runs over chunks of whole documents, in this
process or in a pool of ``workers`` processes that each build their segmenter and tokenizer once;
at most ``2 * workers`` chunks are in flight, so memory stays bounded on corpora of any size.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from paddle_wwm.atomic_files import write_json_atomic
from paddle_wwm.errors import InvalidInputError
from paddle_wwm.wwm import shards as shard_files
from paddle_wwm.wwm.boundaries import subword_flags, word_starts_batch
from paddle_wwm.wwm.chinese_ref import read_chinese_ref, ref_lines, word_starts_from_ref
from paddle_wwm.wwm.corpus import BadLines, Document, read_documents

CHUNK_SENTENCES = 2000


@dataclass
class PrepareSettings:
    corpus: list[str]
    segmenter: str = "jieba"
    max_seq_len: int = 128
    vocab_file: str | None = None
    do_lower_case: bool = True
    split_sentences: bool = True
    json_key: str = "text"
    shard_chars: int = 50_000_000
    chinese_ref: str | None = None  # word boundaries from a transformers chinese_ref file instead

    def __post_init__(self):
        if not self.corpus:
            raise InvalidInputError("no corpus files given")
        if self.max_seq_len < 8 or self.max_seq_len > 512:
            raise InvalidInputError(f"--max-seq-len must be in [8, 512], got {self.max_seq_len}")
        for path in self.corpus + ([self.chinese_ref] if self.chinese_ref else []):
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: corpus file not found" if path != self.chinese_ref
                                        else f"{path}: chinese_ref file not found")
        if self.shard_chars < 1:
            raise InvalidInputError(f"--shard-chars must be positive, got {self.shard_chars}")

    @property
    def max_sentence_tokens(self) -> int:
        """Longer sentences are cut (at word starts) so a sentence always fits an NSP pair."""
        return self.max_seq_len - 3

    def fingerprint(self, vocab_md5: str, special_ids: dict[str, int]) -> dict:
        """What the data depends on; a resumed run must agree on all of it."""
        files = []
        for path in self.corpus + ([self.chinese_ref] if self.chinese_ref else []):
            stat = Path(path).stat()
            files.append({"path": str(path), "bytes": stat.st_size})
        return {"format": shard_files.FORMAT, "version": shard_files.VERSION, "files": files,
                "segmenter": "chinese_ref" if self.chinese_ref else self.segmenter,
                "max_seq_len": self.max_seq_len, "vocab_md5": vocab_md5, "special_ids": special_ids,
                "do_lower_case": self.do_lower_case,
                "split_sentences": self.split_sentences, "json_key": self.json_key,
                "shard_chars": self.shard_chars}


def vocab_md5(vocab: dict[str, int]) -> str:
    """The md5 of the tokens in id order, one a line: the same for equal vocabularies whatever
    their file's line endings or trailing newline."""
    return hashlib.md5("\n".join(sorted(vocab, key=vocab.get)).encode("utf-8")).hexdigest()


# -- the per-chunk work (runs in worker processes) ---------------------------------------------
_WORKER: dict = {}


def _init_worker(vocab_file: str | None, do_lower_case: bool, segmenter_spec: str | None) -> None:
    from paddle_wwm.tokenization import BertTokenizer

    # Forked from a process that imported Paddle, whose SIGTERM handler reports a C++ "FatalError"
    # when the pool is terminated at the end: that is how the pool stops, not an error.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    tokenizer = BertTokenizer(vocab_file, do_lower_case=do_lower_case)
    _WORKER["tokenizer"] = tokenizer
    _WORKER["is_subword"] = subword_flags(tokenizer.vocab)
    _WORKER["cls_sep"] = (tokenizer.cls_token_id, tokenizer.sep_token_id)
    if segmenter_spec is not None:
        from paddle_wwm.segmentation import get_segmenter

        _WORKER["segmenter"] = get_segmenter(segmenter_spec)


def _cut_long(ids: np.ndarray, starts: np.ndarray, limit: int) -> list[int]:
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


def _process_chunk(task: tuple[list[list[str]], list | None, int]) -> dict:
    """Token ids, word starts and piece lengths of the documents of one chunk."""
    documents, refs, wheres, limit = task
    tokenizer, is_subword = _WORKER["tokenizer"], _WORKER["is_subword"]
    texts = [s for doc in documents for s in doc]
    encoded = tokenizer.encode_plain(texts, return_offsets=refs is None)
    timings = {}
    if refs is None:
        started = time.perf_counter()
        words = _WORKER["segmenter"].segment(texts)
        timings["segment"] = time.perf_counter() - started
        starts, misaligned = word_starts_batch(texts, words, encoded, is_subword)
    else:
        cls_id, sep_id = _WORKER["cls_sep"]
        starts, misaligned = [], 0
        for (ids, _), ref, where in zip(encoded, refs, wheres):
            kept = ids[:510]  # the refs cover the 512-token window run_chinese_ref tokenized
            flags = word_starts_from_ref([cls_id, *kept, sep_id], ref, is_subword, where=where)[1:-1]
            starts.append(np.concatenate([flags, ~is_subword[np.asarray(ids[510:], dtype=np.int64)]]))
    all_ids, all_starts, pieces, doc_pieces, cut = [], [], [], [], 0
    index = 0
    for doc in documents:
        n_pieces = 0
        for _ in doc:
            ids = np.asarray(encoded[index][0], dtype=np.int64)
            flags = starts[index]
            index += 1
            if len(ids) == 0:
                continue
            lengths = _cut_long(ids, flags, limit)
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


class _OrderedPool:
    """Ordered map over a pool (or inline), with a bounded number of chunks in flight."""

    def __init__(self, workers: int, initargs: tuple):
        self.pool = None
        if workers > 1:
            context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            self.pool = context.Pool(workers, initializer=_init_worker, initargs=initargs)
            self.window = 2 * workers
        else:
            _init_worker(*initargs)

    def map(self, tasks: Iterator) -> Iterator:
        """(tag, result) in order; a None task passes through as a None result."""
        if self.pool is None:
            for tag, task in tasks:
                yield tag, None if task is None else _process_chunk(task)
            return
        pending: deque = deque()
        for tag, task in tasks:
            pending.append((tag, None if task is None else self.pool.apply_async(_process_chunk, (task,))))
            if len(pending) >= self.window:
                tag_done, result = pending.popleft()
                yield tag_done, None if result is None else result.get()
        while pending:
            tag_done, result = pending.popleft()
            yield tag_done, None if result is None else result.get()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


# -- the driver ----------------------------------------------------------------------------------
class _ShardRouter:
    """Sends bad-line reports to the shard whose documents are being read."""

    def __init__(self, echo):
        self.current = BadLines(listener=echo)

    def add(self, *args, **kwargs):
        self.current.add(*args, **kwargs)


@dataclass
class _ShardBuild:
    index: int
    skip: bool
    bad: BadLines
    documents: int = 0
    chars: int = 0
    results: list = field(default_factory=list)


def _ref_documents(path: str, refs: list[list[int]], bad) -> Iterator[Document]:
    """One document per non-blank line, paired with its ref (transformers' line filter)."""
    text = Path(path).read_text(encoding="utf-8")
    lines = ref_lines(text)
    if len(lines) != len(refs):
        raise shard_files.ShardError(f"{path}: {len(lines)} non-blank lines but the chinese_ref file has "
                                     f"{len(refs)} lines: they do not belong together")
    for number, (line, ref) in enumerate(zip(lines, refs), 1):
        yield Document(f"{path}:line {number} (non-blank)", [line]), ref


def _documents(settings: PrepareSettings, router) -> Iterator[tuple[Document, list | None]]:
    if settings.chinese_ref:
        if len(settings.corpus) != 1:
            raise InvalidInputError("--chinese-ref goes with exactly one corpus file (its lines)")
        yield from _ref_documents(settings.corpus[0], read_chinese_ref(settings.chinese_ref), router)
        return
    for document in read_documents(settings.corpus, router, settings.json_key, settings.split_sentences):
        yield document, None


def prepare(settings: PrepareSettings, out: str | os.PathLike, workers: int = 1,
            progress: bool = True, echo=None, stop_after_shards: int | None = None) -> dict:
    """Prepare ``settings.corpus`` into ``out``; returns the manifest.

    ``echo`` receives each bad-line message (the CLI prints them). ``stop_after_shards`` ends
    the run after that many newly written shards, without a manifest: how the tests interrupt
    a run at a known point.
    """
    from tqdm import tqdm

    from paddle_wwm.tokenization import BertTokenizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(settings.vocab_file, do_lower_case=settings.do_lower_case)
    special_ids = {name: tokenizer.vocab[token] for name, token in
                   (("pad", "[PAD]"), ("unk", "[UNK]"), ("cls", "[CLS]"), ("sep", "[SEP]"), ("mask", "[MASK]"))}
    fingerprint = settings.fingerprint(vocab_md5(tokenizer.vocab), special_ids)
    _check_or_write_settings(out, fingerprint)

    router = _ShardRouter(echo)
    builds: dict[int, _ShardBuild] = {}

    def new_build(index: int) -> _ShardBuild:
        skip = shard_files.shard_done(out, index)
        build = _ShardBuild(index, skip, BadLines(listener=None if skip else echo))
        router.current = build.bad
        builds[index] = build
        return build

    def tasks() -> Iterator:
        """(shard index, chunk task), and (shard index, None) when a shard's documents end."""
        build = new_build(0)
        chunk: list = []
        refs: list = []
        wheres: list = []

        def flush():
            task = (chunk[:], refs[:] if settings.chinese_ref else None, wheres[:], settings.max_sentence_tokens)
            chunk.clear(), refs.clear(), wheres.clear()
            return build.index, task

        for document, ref in _documents(settings, router):
            build.documents += 1
            build.chars += sum(len(s) for s in document.sentences)
            if not build.skip:
                chunk.append(document.sentences)
                refs.append(ref)
                wheres.append(document.where)
                if sum(len(d) for d in chunk) >= CHUNK_SENTENCES:
                    yield flush()
            if build.chars >= settings.shard_chars:
                if chunk:
                    yield flush()
                yield build.index, None
                build = new_build(build.index + 1)
        if chunk:
            yield flush()
        if build.documents:
            yield build.index, None
        else:
            del builds[build.index]

    totals = {"segment_seconds": 0.0, "misaligned_sentences": 0, "cut_sentences": 0}
    written = 0
    started = time.perf_counter()
    bar = tqdm(unit="sent", desc=f"prepare {out.name}", disable=not progress, mininterval=1.0)
    pool = _OrderedPool(workers, (settings.vocab_file, settings.do_lower_case,
                                  None if settings.chinese_ref else settings.segmenter))
    try:
        for index, result in pool.map(tasks()):
            build = builds[index]
            if result is not None:
                build.results.append(result)
                totals["segment_seconds"] += result["timings"].get("segment", 0.0)
                totals["misaligned_sentences"] += result["misaligned"]
                totals["cut_sentences"] += result["cut"]
                bar.update(len(result["pieces"]))
                continue
            if not build.skip:
                _finish_shard(out, build, shard_files.id_dtype(tokenizer.vocab_size))
                written += 1
            build.results = []
            if stop_after_shards is not None and written >= stop_after_shards:
                return {"interrupted": True, "written": written}
    finally:
        pool.close()
        bar.close()
    return _write_manifest(out, fingerprint, builds, totals, time.perf_counter() - started, written)


def _check_or_write_settings(out: Path, fingerprint: dict) -> None:
    path = out / "settings.json"
    if not path.is_file():
        write_json_atomic(path, fingerprint)
        return
    previous = json.loads(path.read_text(encoding="utf-8"))
    if previous != fingerprint:
        differing = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        raise shard_files.ShardError(
            f"{path}: {out} was prepared with other settings (differing: {', '.join(differing)}); "
            f"use another --out directory")


def _finish_shard(out: Path, build: _ShardBuild, id_dtype) -> None:
    results = build.results
    ids = np.concatenate([r["ids"] for r in results]) if results else np.zeros(0, np.int64)
    starts = np.concatenate([r["starts"] for r in results]) if results else np.zeros(0, np.uint8)
    pieces = np.concatenate([r["pieces"] for r in results]) if results else np.zeros(0, np.int64)
    doc_pieces = np.asarray([n for r in results for n in r["doc_pieces"]], dtype=np.int64)
    doc_pieces = doc_pieces[doc_pieces > 0]  # documents without any token are dropped
    arrays = {
        "ids": ids.astype(id_dtype),
        "starts": starts.astype(np.uint8),
        "sentences": np.concatenate([[0], np.cumsum(pieces)]).astype(np.int64),
        "documents": np.concatenate([[0], np.cumsum(doc_pieces)]).astype(np.int64),
    }
    info = {"documents": int(len(doc_pieces)), "sentences": int(len(pieces)), "tokens": int(len(ids)),
            "word_starts": int(starts.sum()), "characters": build.chars,
            "input_documents": build.documents, "bad_lines": build.bad.to_dict()}
    shard_files.write_shard(out, build.index, arrays, info)


def _write_manifest(out: Path, fingerprint: dict, builds: dict, totals: dict, seconds: float,
                    written: int) -> dict:
    entries = []
    for index in sorted(builds):
        path = out / f"{shard_files.shard_name(index)}.json"
        entries.append(json.loads(path.read_text(encoding="utf-8")))
    bad_total: dict = {}
    first: list = []
    for entry in entries:
        for reason, count in entry["bad_lines"]["by_reason"].items():
            bad_total[reason] = bad_total.get(reason, 0) + count
        first.extend(entry["bad_lines"]["first"])
    counts = {key: sum(e[key] for e in entries) for key in ("documents", "sentences", "tokens", "word_starts")}
    manifest = {
        "format": shard_files.FORMAT, "version": shard_files.VERSION, "settings": fingerprint,
        "shards": [{k: e[k] for k in ("name", "documents", "sentences", "tokens")} for e in entries],
        **counts,
        "mean_sentence_tokens": counts["tokens"] / max(1, counts["sentences"]),
        "words_per_token": counts["word_starts"] / max(1, counts["tokens"]),
        "bad_lines": {"total": sum(bad_total.values()), "by_reason": bad_total,
                      "first": first[:1000]},
        "this_run": {"shards_written": written, "shards_skipped": len(entries) - written,
                     "seconds": round(seconds, 3), **totals},
    }
    write_json_atomic(out / "manifest.json", manifest)
    return manifest

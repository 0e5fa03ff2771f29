"""``paddle-wwm prepare``: corpus -> segment -> tokenize -> word starts -> shards.

Documents are assigned to shards by a running count of characters, a function of the input
alone, so a rerun knows which documents belong to finished shards and skips them without
segmenting again (resume), and a finished run does nothing at all (idempotent).

The work (segmentation, tokenization, alignment: :mod:`paddle_wwm.wwm.chunk_encoder`) runs over
chunks of whole documents, in this process or in a pool of ``workers`` processes that each build
their segmenter and tokenizer once; at most ``2 * workers`` chunks are in flight, so memory stays
bounded on corpora of any size.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from paddle_wwm.atomic_files import write_json_atomic
from paddle_wwm.errors import InvalidInputError
from paddle_wwm.parallel import OrderedPool
from paddle_wwm.wwm import shards as shard_files
from paddle_wwm.wwm.chinese_ref import read_chinese_ref, ref_lines
from paddle_wwm.wwm.chunk_encoder import Chunk, ChunkEncoder
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


def _ref_documents(path: str, refs: list[list[int]]) -> Iterator[tuple[Document, list[int]]]:
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
        yield from _ref_documents(settings.corpus[0], read_chinese_ref(settings.chinese_ref))
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
            task = Chunk(chunk[:], refs[:] if settings.chinese_ref else None, wheres[:], settings.max_sentence_tokens)
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
    encoder = functools.partial(ChunkEncoder, settings.vocab_file, settings.do_lower_case,
                                None if settings.chinese_ref else settings.segmenter)
    with OrderedPool(workers, encoder) as pool, bar:
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

"""Reading pre-training corpora into documents of sentences, reporting every bad line.

Formats, by file name:

* plain text (any other suffix): Google's ``create_pretraining_data`` format, one sentence or
  paragraph a line, documents separated by blank lines;
* ``.jsonl``: one document a line, a JSON string or an object with the text under ``json_key``;
* ``.json``: a JSON list of such documents (the shipped 三国演义 is one), or JSON lines.

Lines are split further into sentences at Chinese and Western sentence ends (。！？!?； and
…, with closing quotes kept) unless ``split_sentences=False``: paragraphs of Chinese web text run
to hundreds of characters, and NSP and packing work in sentences.

Bad input is skipped and reported as ``file:line: problem``, never silently: undecodable bytes
(invalid UTF-8), control characters (C0/C1 other than tab), a JSON line that does not parse or
has no text, an empty document.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

_SENTENCE = re.compile(r'.*?(?:[。！？!?；]+|…+)[”’」』）》)"\']*|.+')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_REPORTED = 1000  # bad lines listed by name in the manifest; all are counted


def split_sentences(line: str) -> list[str]:
    """Sentences of a line, each stripped, none empty."""
    return [s for s in (m.strip() for m in _SENTENCE.findall(line)) if s]


@dataclass
class Document:
    where: str  # "file:line" of its first line
    sentences: list[str]


@dataclass
class BadLines:
    """Counts of skipped input by reason, and the first MAX_REPORTED of them by file:line."""
    counts: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    listener: object = None  # called with each message (the CLI prints them)

    def add(self, where: str, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        message = f"{where}: {reason}" + (f" ({detail})" if detail else "")
        if len(self.examples) < MAX_REPORTED:
            self.examples.append(message)
        if self.listener is not None:
            self.listener(message)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"total": self.total, "by_reason": dict(self.counts), "first": self.examples}


def _decoded_lines(path: Path, bad: BadLines) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of each line; text None for a line that is bad (already reported)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                bad.add(f"{path}:{number}", "invalid UTF-8", f"byte {error.start}")
                yield number, None
                continue
            if number == 1:
                line = line.lstrip("\ufeff")
            line = line.rstrip("\r\n")
            control = _CONTROL.search(line)
            if control:
                bad.add(f"{path}:{number}", "control character", f"U+{ord(control.group()):04X}")
                yield number, None
                continue
            yield number, line


def _line_sentences(line: str, split: bool) -> list[str]:
    line = line.strip()
    if not line:
        return []
    return split_sentences(line) if split else [line]


def _plain_documents(path: Path, bad: BadLines, split: bool) -> Iterator[Document]:
    sentences: list[str] = []
    first = 0
    for number, line in _decoded_lines(path, bad):
        if line is None:
            continue
        if not line.strip():
            if sentences:
                yield Document(f"{path}:{first}", sentences)
            sentences = []
            continue
        if not sentences:
            first = number
        sentences.extend(_line_sentences(line, split))
    if sentences:
        yield Document(f"{path}:{first}", sentences)


def _record_document(record, where: str, json_key: str, bad: BadLines, split: bool) -> Document | None:
    text = record.get(json_key) if isinstance(record, dict) else record
    if not isinstance(text, str):
        bad.add(where, "no text", f"expected a string or an object with {json_key!r}")
        return None
    sentences = []
    for line in text.splitlines():
        control = _CONTROL.search(line)
        if control:
            bad.add(where, "control character", f"U+{ord(control.group()):04X}; that line of the record skipped")
            continue
        sentences.extend(_line_sentences(line, split))
    if not sentences:
        bad.add(where, "empty document")
        return None
    return Document(where, sentences)


def _json_lines_documents(path: Path, bad: BadLines, json_key: str, split: bool) -> Iterator[Document]:
    for number, line in _decoded_lines(path, bad):  # escaped controls: _record_document
        if line is None or not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            bad.add(where, "invalid JSON", error.msg)
            continue
        document = _record_document(record, where, json_key, bad, split)
        if document is not None:
            yield document


def _json_documents(path: Path, bad: BadLines, json_key: str, split: bool) -> Iterator[Document]:
    try:
        records = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        yield from _json_lines_documents(path, bad, json_key, split)  # reports line by line
        return
    if not isinstance(records, list):
        records = [records]
    for index, record in enumerate(records):
        document = _record_document(record, f"{path}:#{index}", json_key, bad, split)
        if document is not None:
            yield document


def read_documents(paths: Iterable[str | Path], bad: BadLines, json_key: str = "text",
                   split: bool = True) -> Iterator[Document]:
    """Documents of all files in order; bad lines go to ``bad``."""
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: corpus file not found")
        if path.suffix == ".jsonl":
            yield from _json_lines_documents(path, bad, json_key, split)
        elif path.suffix == ".json":
            yield from _json_documents(path, bad, json_key, split)
        else:
            yield from _plain_documents(path, bad, split)

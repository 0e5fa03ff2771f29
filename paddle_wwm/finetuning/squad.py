"""The one reader of SQuAD-format files, shared by the task reader (``readers.py``) and the
official metric (``mrc_metric.py``).

SQuAD style is ``{"data": [{"paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"text", "answer_start"}]}]}]}]}`` (CMRC 2018's squad-style-data, DRCD, CJRC; CJRC adds a
``domain`` per case and ``is_impossible`` per question). CMRC 2018's original release, a list of
``{"context_text", "qas": [{"query_id", "query_text", "answers": ["text", ...]}]}``, is walked
the same way (an article without ``paragraphs`` is its own paragraph). This module checks the
structure and the question ids (present, string or integer, unique in the file); what a
consumer needs of each record (a context, answer positions, answer texts) it checks itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .json_data import DataError, load_json


@dataclass(frozen=True)
class SquadQuestion:
    qid: str
    record: dict  # the question object as published
    where: str  # "file: qid", for messages


@dataclass(frozen=True)
class SquadParagraph:
    record: dict  # the paragraph object as published
    article: dict  # the article (CJRC: the case) it belongs to
    where: str  # "file: data[a].paragraphs[p]"
    article_where: str  # "file: data[a]"
    questions: list[SquadQuestion] = field(default_factory=list)


def _articles(path: Path, data) -> list:
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object with 'data' or a list of articles, "
                        f"got {type(data).__name__}")
    if not isinstance(data.get("data"), list):
        raise DataError(f"{path}: top level: expected a 'data' list (a SQuAD-style file)")
    return data["data"]


def _question_id(qa, where: str) -> str:
    qid = qa.get("id", qa.get("query_id")) if isinstance(qa, dict) else None
    if not isinstance(qid, (str, int)) or isinstance(qid, bool):
        raise DataError(f"{where}: expected an object with a string 'id'")
    return str(qid)


def squad_paragraphs(path) -> Iterator[SquadParagraph]:
    """Every paragraph of a SQuAD-format file, in file order, with its questions."""
    path = Path(path)
    seen: set[str] = set()
    for a, article in enumerate(_articles(path, load_json(path))):
        article_where = f"{path}: data[{a}]"
        if not isinstance(article, dict):
            raise DataError(f"{article_where}: expected a JSON object, got {type(article).__name__}")
        paragraphs = article["paragraphs"] if "paragraphs" in article else [article]
        if not isinstance(paragraphs, list):
            raise DataError(f"{article_where}: 'paragraphs' should be list, got {type(paragraphs).__name__}")
        for p, paragraph in enumerate(paragraphs):
            where = f"{article_where}.paragraphs[{p}]"
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                raise DataError(f"{where}: expected an object with a 'qas' list")
            questions = []
            for q, qa in enumerate(qas):
                qid = _question_id(qa, f"{where}.qas[{q}]")
                if qid in seen:
                    raise DataError(f"{path}: {qid}: duplicate question id")
                seen.add(qid)
                questions.append(SquadQuestion(qid, qa, f"{path}: {qid}"))
            yield SquadParagraph(paragraph, article, where, article_where, questions)

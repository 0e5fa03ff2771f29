"""The examples every task reader produces and every feature builder consumes."""
from __future__ import annotations

from dataclasses import dataclass, field

# Answer types of span-extraction examples (CJRC has all four; CMRC 2018 and DRCD only spans).
SPAN, YES, NO, UNANSWERABLE = "span", "yes", "no", "unanswerable"
ANSWER_TYPES = (SPAN, YES, NO, UNANSWERABLE)


@dataclass(frozen=True)
class ClassificationExample:
    """One sentence (text_b None) or sentence-pair example; ``label`` is the label's index in the
    task's label list (None for unlabelled test data). ``where`` is ``file:line`` for messages."""
    guid: str
    text_a: str
    text_b: str | None
    label: int | None
    where: str = ""


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset of the answer in the context; -1 for YES / NO / unanswerable


@dataclass(frozen=True)
class SpanExample:
    """A reading-comprehension question. ``answers`` holds every reference answer (the first is
    the training target); ``answer_type`` is one of ANSWER_TYPES (of the first answer)."""
    qid: str
    context: str
    question: str
    answers: tuple[Answer, ...] = field(default_factory=tuple)
    answer_type: str = SPAN
    where: str = ""

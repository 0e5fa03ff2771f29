"""Task readers for the seed's eight fine-tuning benchmarks, in the formats they are published in.

``read_examples(task, path)`` turns one file into ``ClassificationExample`` or ``SpanExample``
objects (``paddle_wwm.finetuning.examples``); ``TASKS`` says, per task, its kind, its label list
(the order is the model's class index, fixed here) and the usual file name of each split;
``data_summary`` is what ``paddle-wwm check-data`` prints. What the real published files hold
(record counts, the records skipped or corrected) is in docs/datasets.md.

Formats (one reader each):

- classification, a record a line, fields separated by tabs (``TaskSpec.columns`` gives their
  order): xnli ``text_a text_b label``, chnsenticorp ``label text_a``, lcqmc and bq
  ``text_a text_b label``, thucnews (cnews) ``label text``. A first line that spells the column
  names is a header and is not a record. Every record must carry its label. Fields are stripped
  of surrounding white space (the tokenizer would drop it anyway).
- span (reading comprehension), SQuAD-style JSON read by ``squad.py``: cmrc2018 and drcd (SQuAD
  v1.1 style; every reference answer is kept) and cjrc (CAIL 2019, SQuAD 2.0-like, below).

Strictness: a malformed record (wrong number of fields, a label outside the task's list, an
empty text or context, invalid UTF-8, invalid JSON, a missing key or a value of the wrong type,
a duplicate question id) raises ``DataError`` naming ``file:line`` (tsv, invalid JSON and invalid
UTF-8) or ``file: qid`` (parsed JSON), because a silently shortened training or evaluation set is
worse than a stopped run. The one exception is a kind of bad record that a real published file
is known to contain: a question with an empty text (in cmrc2018_trial.json) is skipped and
counted in ``ReadResult.skipped``.

Answer positions (never silent; counted in ``ReadResult.warnings``): a span answer whose
``answer_start`` does not point at its text is moved to the occurrence of its text in the
context nearest the given start ("answer_start corrected"), or, when its text does not occur in
the context at all, kept as a reference text with ``start = -1`` ("answer not in context"). The
metric compares texts, so such answers still count as references; a feature builder training on
the first answer must skip a SPAN example whose ``answers[0].start`` is -1.

CJRC (``answer_types`` has all four): ``is_impossible`` is the string "true" or "false" (JSON
booleans are accepted too). The question's ``answer_type`` is UNANSWERABLE when is_impossible is
true, else YES / NO when its first answer's text is "YES" / "NO", else SPAN (an empty first
answer of a question not marked impossible is a DataError). All answers are kept as given, also
where annotators disagree: "YES", "NO" and "" (an annotator's "no answer") become
``Answer(text, -1)``. An answer list that is empty marks an unlabelled question (prediction
input, e.g. CAIL's data.json with is_impossible ""): ``answers == ()``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from paddle_wwm.errors import InvalidInputError
from paddle_wwm.finetuning.examples import (ANSWER_TYPES, NO, SPAN, UNANSWERABLE, YES, Answer,
                                            ClassificationExample, SpanExample)
from paddle_wwm.finetuning.json_data import DataError
from paddle_wwm.finetuning.squad import squad_paragraphs

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class TaskSpec:
    """``files`` maps train/dev/test to the name a split has in its published distribution.
    ``labels`` is the class list in model order; ``label_aliases`` maps other spellings of a label
    in some copies of a data set onto it. ``columns`` is the tsv field order of classification
    files; ``answer_types`` the answer types a span task can have."""
    kind: str  # "classification" or "span"
    files: dict
    labels: tuple = ()
    columns: tuple = ()
    label_aliases: dict = field(default_factory=dict)
    answer_types: tuple = ()


_PAIR, _SINGLE = ("text_a", "text_b", "label"), ("label", "text_a")

TASKS: dict[str, TaskSpec] = {
    # XNLI as Baidu ERNIE distributes it: label indices of its label_map.json (contradiction 0,
    # entailment 1, neutral 2); its train.tsv spells contradiction "contradictory".
    "xnli": TaskSpec("classification", {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
                     labels=("contradiction", "entailment", "neutral"), columns=_PAIR,
                     label_aliases={"contradictory": "contradiction"}),
    # 0 negative, 1 positive: the label index is the number in the file.
    "chnsenticorp": TaskSpec("classification", {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
                             labels=("0", "1"), columns=_SINGLE),
    # Sentence pairs, 1 = same meaning.
    "lcqmc": TaskSpec("classification", {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"},
                      labels=("0", "1"), columns=_PAIR),
    "bq": TaskSpec("classification", {"train": "BQ.train.data", "dev": "BQ.valid.data", "test": "BQ.test.data"},
                   labels=("0", "1"), columns=_PAIR),
    # The cnews 10-class subset of THUCNews, labels in the order of the usual cnews category list.
    "thucnews": TaskSpec("classification",
                         {"train": "cnews.train.txt", "dev": "cnews.val.txt", "test": "cnews.test.txt"},
                         labels=("体育", "财经", "房产", "家居", "教育", "科技", "时尚", "时政", "游戏", "娱乐"),
                         columns=_SINGLE),
    # The official test and challenge sets are hidden (scored by the organisers); the public
    # trial set serves as the held-out test split.
    "cmrc2018": TaskSpec("span", {"train": "cmrc2018_train.json", "dev": "cmrc2018_dev.json",
                                  "test": "cmrc2018_trial.json"}, answer_types=(SPAN,)),
    "drcd": TaskSpec("span", {"train": "DRCD_training.json", "dev": "DRCD_dev.json", "test": "DRCD_test.json"},
                     answer_types=(SPAN,)),
    # CAIL 2019 reading comprehension: big_train_data.json is the name the training set was
    # released under; dev and test are the *_ground_truth.json files of its repository.
    "cjrc": TaskSpec("span", {"train": "big_train_data.json", "dev": "dev_ground_truth.json",
                              "test": "test_ground_truth.json"}, answer_types=ANSWER_TYPES),
}

_SHOWN = 10  # how many skipped / warned records are listed by place


@dataclass
class ReadResult:
    """``skipped``: reason -> records left out; ``warnings``: reason -> answers kept but changed or
    flagged. The ``*_where`` lists hold the first few as ``file:line: reason``."""
    examples: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    skipped_where: list = field(default_factory=list)
    warnings: dict = field(default_factory=dict)
    warnings_where: list = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        self._count(self.skipped, self.skipped_where, where, reason)

    def warn(self, where: str, reason: str) -> None:
        self._count(self.warnings, self.warnings_where, where, reason)

    @staticmethod
    def _count(counts: dict, places: list, where: str, reason: str) -> None:
        counts[reason] = counts.get(reason, 0) + 1
        if len(places) < _SHOWN:
            places.append(f"{where}: {reason}")


def task_spec(task: str) -> TaskSpec:
    try:
        return TASKS[task]
    except KeyError:
        raise InvalidInputError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}") from None


def split_path(task: str, data_dir, split: str) -> Path:
    """The file of ``split`` (train/dev/test) of ``task`` in ``data_dir``, under its usual name."""
    spec = task_spec(task)
    if split not in spec.files:
        raise InvalidInputError(f"unknown split {split!r} for {task}; splits: {', '.join(spec.files)}")
    path = Path(data_dir) / spec.files[split]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the {split} split of {task} is not there "
                                f"(expected a file named {spec.files[split]} in {data_dir})")
    return path


def read_examples(task: str, path) -> ReadResult:
    """Every example of one file of ``task``; see the module docstring for what is skipped."""
    spec = task_spec(task)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if spec.kind == "classification":
        return _read_classification(task, spec, path)
    return _read_span(spec, path)


# -- classification: tab-separated lines -------------------------------------------------------

def _read_classification(task: str, spec: TaskSpec, path: Path) -> ReadResult:
    result = ReadResult()
    label_column = spec.columns.index("label")
    with open(path, "rb") as lines:  # line by line: cnews.train.txt is large
        for number, raw in enumerate(lines, 1):
            where = f"{path}:{number}"
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise DataError(f"{where}: not UTF-8 ({error.reason} at byte {error.start} of the line)") from None
            fields = [value.strip() for value in line.split("\t")]
            if number == 1 and tuple(fields) == spec.columns:
                continue  # the header
            if len(fields) != len(spec.columns):
                raise DataError(f"{where}: {len(fields)} tab-separated fields, expected {len(spec.columns)} "
                                f"({' '.join(spec.columns)})")
            label = spec.label_aliases.get(fields[label_column], fields[label_column])
            if label not in spec.labels:
                raise DataError(f"{where}: label {fields[label_column]!r} is not one of {', '.join(spec.labels)}")
            texts = dict(zip(spec.columns, fields))
            for name in ("text_a", "text_b"):
                if name in texts and not texts[name]:
                    raise DataError(f"{where}: empty {name}")
            result.examples.append(ClassificationExample(
                guid=f"{task}-{path.name}-{len(result.examples)}", text_a=texts["text_a"],
                text_b=texts.get("text_b"), label=spec.labels.index(label), where=where))
    return result


# -- span extraction: SQuAD-style JSON ---------------------------------------------------------

def _get(record, key: str, kind, where: str):
    """``record[key]``, checked to be a ``kind``; DataError naming the record otherwise."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if key not in record:
        raise DataError(f"{where}: missing key {key!r}")
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise DataError(f"{where}: {key!r} should be {names}, got {type(value).__name__}")
    return value


def _read_span(spec: TaskSpec, path: Path) -> ReadResult:
    result = ReadResult()
    for paragraph in squad_paragraphs(path):
        context = _get(paragraph.record, "context", str, paragraph.where)
        if not context.strip():
            raise DataError(f"{paragraph.where}: empty context")
        for question in paragraph.questions:
            qa, where = question.record, question.where
            text = _get(qa, "question", str, where).strip()
            raw_answers = _get(qa, "answers", list, where)
            if not text:
                result.skip(where, "empty question")
                continue
            answer_type, answers = _span_answers(spec, qa, raw_answers, context, where, result)
            result.examples.append(SpanExample(qid=question.qid, context=context, question=text,
                                               answers=answers, answer_type=answer_type, where=where))
    return result


def _span_answers(spec: TaskSpec, qa: dict, raw_answers: list, context: str, where: str, result: ReadResult):
    """(answer_type, answers) of one question; answer positions checked as the docstring says."""
    yes_no = UNANSWERABLE in spec.answer_types
    answers = []
    for i, raw in enumerate(raw_answers):
        text = _get(raw, "text", str, f"{where}: answers[{i}]")
        start = _get(raw, "answer_start", int, f"{where}: answers[{i}]")
        if yes_no and text in ("YES", "NO", ""):
            answers.append(Answer(text, -1))
            continue
        if not text.strip():
            raise DataError(f"{where}: answers[{i}] is empty")
        if start < 0 or context[start:start + len(text)] != text:
            found = [k for k in range(len(context)) if context.startswith(text, k)]
            if found:
                start = min(found, key=lambda k: abs(k - start))
                result.warn(f"{where}: answers[{i}]", "answer_start corrected")
            else:
                start = -1
                result.warn(f"{where}: answers[{i}]", "answer not in context (kept, start -1)")
        answers.append(Answer(text, start))
    if not answers:
        return SPAN, ()
    if not yes_no:
        return SPAN, tuple(answers)
    impossible = _get(qa, "is_impossible", (str, bool), where)
    if impossible not in ("true", "false", True, False):
        raise DataError(f"{where}: is_impossible should be \"true\" or \"false\", got {impossible!r}")
    if impossible in ("true", True):
        return UNANSWERABLE, tuple(answers)
    first = answers[0].text
    if first == "":
        raise DataError(f"{where}: is_impossible is false but the first answer is empty")
    return {"YES": YES, "NO": NO}.get(first, SPAN), tuple(answers)


# -- check-data --------------------------------------------------------------------------------

def data_summary(task: str, path) -> dict:
    """Counts of one file for ``paddle-wwm check-data`` (JSON-serialisable)."""
    spec = task_spec(task)
    result = read_examples(task, path)
    examples = result.examples
    summary = {"file": str(path), "task": task, "kind": spec.kind, "examples": len(examples)}
    if spec.kind == "classification":
        counts = Counter(example.label for example in examples)
        summary["labels"] = {label: counts.get(index, 0) for index, label in enumerate(spec.labels)}
        summary["mean_chars"] = {"text_a": _mean(len(e.text_a) for e in examples)}
        if "text_b" in spec.columns:
            summary["mean_chars"]["text_b"] = _mean(len(e.text_b) for e in examples)
    else:
        contexts = {example.context for example in examples}
        summary["questions"] = len(examples)
        summary["contexts"] = len(contexts)
        types = Counter(example.answer_type for example in examples)
        summary["answer_types"] = {kind: types[kind] for kind in ANSWER_TYPES if types[kind]}
        per_question = Counter(len(example.answers) for example in examples)
        summary["answers_per_question"] = {str(n): per_question[n] for n in sorted(per_question)}
        summary["mean_chars"] = {"context": _mean(len(c) for c in contexts),
                                 "question": _mean(len(e.question) for e in examples)}
        summary["warnings"] = dict(result.warnings)
        summary["warnings_where"] = list(result.warnings_where)
    summary["skipped"] = dict(result.skipped)
    summary["skipped_where"] = list(result.skipped_where)
    return summary


def _mean(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 1) if values else 0.0

"""The official metrics of the span-extraction reading-comprehension benchmarks: CMRC 2018's
``cmrc2018_evaluate.py`` (also DRCD's) and CAIL2019's ``evaluate.py`` for CJRC. They disagree on
what a token is (CJK characters plus nltk words and a longest common substring, against a bag of
characters with CoQA's leave-one-out over references): ``docs/metrics.md`` states both rules and
every deviation from the official scripts; ``tests/test_mrc_metric.py`` checks them on worked
examples and the real files.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

from .json_data import DataError, load_json
from .squad import squad_paragraphs

__all__ = [
    "PUNCTUATION", "TASKS", "METRICS", "TASK_METRIC",
    "mixed_segmentation", "remove_punctuation", "longest_common_substring",
    "f1_score", "exact_match", "cjrc_normalize", "cjrc_f1_score", "cjrc_exact_match",
    "evaluate", "load_references", "load_predictions", "evaluate_files", "score_file",
]

# The official list, in its order. Note '……' (two U+2026): the script tests single characters with
# ``char in sp_char``, and a one-character string never equals a two-character one, so '…' is NOT
# punctuation for the metric. Likewise only the right single quote '’' is listed, not '‘', and the
# ASCII '.', ',', '(', ')', '?', '!', '"' are not listed at all: those stay tokens / characters.
PUNCTUATION = (
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』",
)
_PUNCTUATION_CHARS = frozenset(p for p in PUNCTUATION if len(p) == 1)

TASKS = ("cmrc2018", "drcd", "cjrc")
METRICS = ("cmrc2018", "cjrc")
# DRCD's repository ships no evaluation script; CMRC 2018's baseline README: "as DRCD official does
# not provide evaluation script, we also use cmrc2018_evaluate.py for DRCD".
TASK_METRIC = {"cmrc2018": "cmrc2018", "drcd": "cmrc2018", "cjrc": "cjrc"}

# CJRC's answer strings for the non-span answer types (CAIL2019 data and evaluate/result.json).
CJRC_YES, CJRC_NO, CJRC_UNANSWERABLE = "YES", "NO", ""


# ----------------------------------------------------------------------------------------------
# CMRC 2018 / DRCD


def _is_cjk(char: str) -> bool:
    # The script's ``re.search('[\u4e00-\u9fa5]', char)``: the CJK Unified Ideographs block as of
    # Unicode 3.0-4.0. Traditional characters (DRCD) are in it too; what falls outside -- extension
    # A/B ideographs (e.g. U+21A38 in DRCD test), U+9FA6.., compatibility ideographs, '〇' U+3007,
    # bopomofo -- is "other" and joins the neighbouring non-CJK run as part of one word.
    return "\u4e00" <= char <= "\u9fa5"


@lru_cache(maxsize=1)
def _tokenizer():
    # Imported lazily: importing nltk takes a noticeable moment and only the metric needs it.
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def _word_tokenize(run: str) -> list[str]:
    """nltk ``word_tokenize(run, preserve_line=True)``: the official script's tokenizer without
    its Punkt sentence split (which needs downloaded data).

    Where this can differ: the Treebank-style word tokenizer splits a period off a word only at the
    very end of its input (``"bye."`` -> ``bye`` ``.``); inside it, ``"world. good"`` stays
    ``world.`` ``good``. The official ``word_tokenize`` first cuts the run into sentences, so a
    period that Punkt takes for a sentence end (a word that is not a known abbreviation, then
    whitespace, then more text in the same non-CJK run) becomes a token of its own there: one token
    more on that side. '?' and '!' are split everywhere by the word tokenizer, so they never differ;
    nor do decimal points, "U.S."-style abbreviations and periods at the end of a run, which is
    where almost all ASCII periods of these datasets are (Chinese text ends sentences with '。').
    """
    return _tokenizer().tokenize(run)


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """Split a Chinese/English string into the metric's tokens.

    Lower-cased and stripped first; each CJK character and each punctuation character is a token
    of its own (punctuation dropped when ``remove_punctuation``); the characters in between gather
    into runs that nltk's word tokenizer splits (so "2019年iphone发布" -> 2019 年 iphone 发 布, and
    whitespace only separates words inside a run).
    """
    tokens: list[str] = []
    run: list[str] = []
    for char in text.lower().strip():
        if remove_punctuation and char in _PUNCTUATION_CHARS:
            # Dropped before the test below, so it does not end the current run either:
            # "a-b" becomes the run "ab" (one word), exactly as in the official script.
            continue
        if _is_cjk(char) or char in _PUNCTUATION_CHARS:
            if run:
                tokens.extend(_word_tokenize("".join(run)))
                run = []
            tokens.append(char)
        else:
            run.append(char)
    if run:
        tokens.extend(_word_tokenize("".join(run)))
    return tokens


def remove_punctuation(text: str) -> str:
    """The EM normal form: lower-cased, stripped, the ``PUNCTUATION`` characters deleted.

    Stripping comes first, so spaces that punctuation was hiding survive ("， abc" -> " abc"), and
    inner spaces are kept: "iphone 11" and "iphone11" are different strings for EM.
    """
    return "".join(char for char in text.lower().strip() if char not in _PUNCTUATION_CHARS)


def longest_common_substring(a: list[str], b: list[str]) -> int:
    """Length of the longest run of tokens that occurs contiguously in both lists.

    The classic DP (``m[i+1][j+1] = m[i][j] + 1`` on a match) keeping only the cells that match:
    the row of lengths ending at each position of ``b`` is a dict over the positions where the
    current token of ``a`` occurs in ``b``, so a whole-context prediction costs its matches, not
    len(a) * len(b).
    """
    positions: dict[str, list[int]] = {}
    for j, token in enumerate(b):
        positions.setdefault(token, []).append(j)
    best = 0
    previous: dict[int, int] = {}
    for token in a:
        current = {j: previous.get(j - 1, 0) + 1 for j in positions.get(token, ())}
        if current:
            best = max(best, max(current.values()))
        previous = current
    return best


def _require_references(references: list[str]) -> None:
    if not references:
        # The official script would crash on max([]); a question needs at least one answer.
        raise ValueError("a question needs at least one reference answer")


def f1_score(references: list[str], prediction: str) -> float:
    """CMRC 2018 F1 of one prediction: max over the references, 0..1."""
    _require_references(references)
    prediction_tokens = mixed_segmentation(prediction, remove_punctuation=True)
    best = 0.0
    for reference in references:
        reference_tokens = mixed_segmentation(reference, remove_punctuation=True)
        overlap = longest_common_substring(reference_tokens, prediction_tokens)
        if overlap == 0:
            continue  # also covers an empty prediction or reference: no division by zero
        # The script's arithmetic, in its order, so the corpus sums match it bit for bit.
        precision = 1.0 * overlap / len(prediction_tokens)
        recall = 1.0 * overlap / len(reference_tokens)
        best = max(best, (2 * precision * recall) / (precision + recall))
    return best


def exact_match(references: list[str], prediction: str) -> float:
    """CMRC 2018 EM of one prediction: 1.0 if it equals a reference after ``remove_punctuation``."""
    _require_references(references)
    normal = remove_punctuation(prediction)
    return 1.0 if any(remove_punctuation(ref) == normal for ref in references) else 0.0


# ----------------------------------------------------------------------------------------------
# CJRC (CAIL2019)


def cjrc_normalize(text: str) -> str:
    """CAIL2019's ``normalize_answer``: lower-case, keep only ``isdigit() or isalpha()`` characters.

    Chinese characters are letters (category Lo) and stay; every punctuation mark and space goes;
    so does '〇' (category Nl: neither alpha nor digit).
    """
    return "".join(char for char in text.lower() if char.isdigit() or char.isalpha())


def _cjrc_pair_f1(reference: str, prediction: str) -> float:
    # Tokens are single characters; an empty raw string has none (and so has one that normalises
    # to nothing, e.g. "。"): then F1 is 1 when both sides are empty -- both unanswerable -- else 0.
    reference_tokens = list(cjrc_normalize(reference)) if reference else []
    prediction_tokens = list(cjrc_normalize(prediction)) if prediction else []
    if not reference_tokens or not prediction_tokens:
        return float(reference_tokens == prediction_tokens)
    same = sum((Counter(reference_tokens) & Counter(prediction_tokens)).values())
    if same == 0:
        return 0.0
    precision = 1.0 * same / len(prediction_tokens)
    recall = 1.0 * same / len(reference_tokens)
    return (2 * precision * recall) / (precision + recall)


def _cjrc_pair_em(reference: str, prediction: str) -> float:
    return float(cjrc_normalize(reference) == cjrc_normalize(prediction))


def _leave_one_out(references: list[str], prediction: str, pair_score) -> float:
    # CoQA's scoring: with N > 1 references, the mean over i of the max over the other N - 1
    # (so a model is scored the way a human annotator is against the others); with one, the max.
    _require_references(references)
    if len(references) == 1:
        return pair_score(references[0], prediction)
    total = 0.0
    for i in range(len(references)):
        total += max(pair_score(ref, prediction) for ref in references[:i] + references[i + 1:])
    return total / len(references)


def cjrc_f1_score(references: list[str], prediction: str) -> float:
    """CAIL2019 CJRC F1 of one prediction (character bag, leave-one-out over references), 0..1."""
    return _leave_one_out(list(references), prediction, _cjrc_pair_f1)


def cjrc_exact_match(references: list[str], prediction: str) -> float:
    """CAIL2019 CJRC EM of one prediction (leave-one-out over references), 0..1."""
    return _leave_one_out(list(references), prediction, _cjrc_pair_em)


_SCORERS = {
    "cmrc2018": (exact_match, f1_score),
    "cjrc": (cjrc_exact_match, cjrc_f1_score),
}


# ----------------------------------------------------------------------------------------------
# Corpus level


def _sums(references: dict[str, list[str]], predictions: dict[str, str], metric: str):
    """(EM sum, F1 sum, answered) over the reference questions, in their order, one question at a
    time like the official loops (so the float sums are theirs bit for bit)."""
    if metric not in _SCORERS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    em_of, f1_of = _SCORERS[metric]
    em_sum = f1_sum = 0.0
    answered = 0
    for qid, answers in references.items():
        if qid not in predictions:
            continue  # a missing prediction scores 0 and still counts in the total
        answered += 1
        f1_sum += f1_of(answers, predictions[qid])
        em_sum += em_of(answers, predictions[qid])
    return em_sum, f1_sum, answered


def _scores(em_sum: float, f1_sum: float, answered: int, total: int, metric: str) -> dict:
    if metric == "cjrc":  # CAIL2019: total / count * 100
        em = em_sum / max(1, total) * 100
        f1 = f1_sum / max(1, total) * 100
    else:  # CMRC 2018: 100.0 * total / count
        em = 100.0 * em_sum / total if total else 0.0
        f1 = 100.0 * f1_sum / total if total else 0.0
    return {"em": em, "f1": f1, "average": (em + f1) * 0.5,
            "total": total, "answered": answered, "missing": total - answered}


def evaluate(references: dict[str, list[str]], predictions: dict[str, str],
             metric: str = "cmrc2018") -> dict:
    """Score ``predictions`` against every question of ``references``.

    Returns ``em`` and ``f1`` (x100, averaged over all reference questions: a question without a
    prediction scores 0 and counts), ``average`` = (em + f1) / 2, ``total``, ``answered``,
    ``missing`` (the official script's SKIP), and ``unused`` (predictions for ids that are not in
    the references: ignored, as by the official scripts, but counted so a mismatch of ids shows).
    """
    result = _scores(*_sums(references, predictions, metric), len(references), metric)
    result["unused"] = sum(1 for qid in predictions if qid not in references)
    return result


def _questions(path, task: str):
    """Yield (qid, [answer texts], domain or None) from a raw dataset file, in file order.

    Reads SQuAD style (CMRC 2018 squad-style-data, DRCD, CJRC) and CMRC 2018's original format
    (answers as plain strings), both of which the v6 script reads, through ``squad.py``.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    for paragraph in squad_paragraphs(path):
        domain = paragraph.article.get("domain") if task == "cjrc" else None
        if task == "cjrc" and not isinstance(domain, str):
            raise DataError(f"{paragraph.article_where}: CJRC case without a 'domain' (civil / criminal)")
        for question in paragraph.questions:
            answers = question.record.get("answers")
            if not isinstance(answers, list):
                raise DataError(f"{question.where}: expected an 'answers' list")
            texts = []
            for answer in answers:
                text = answer.get("text") if isinstance(answer, dict) else answer
                if not isinstance(text, str):
                    raise DataError(f"{question.where}: an answer without a string 'text'")
                texts.append(text)
            if not texts:
                if task != "cjrc":
                    raise DataError(f"{question.where}: no reference answers")
                # CAIL2019: a question with no answers is unanswerable, reference "".
                texts = [CJRC_UNANSWERABLE]
            yield question.qid, texts, domain


def load_references(path, task: str) -> dict[str, list[str]]:
    """{question id: [reference answer texts]} from a raw dataset file (cmrc2018 / drcd / cjrc).

    CJRC references are the texts as the CAIL2019 script takes them: spans, "YES", "NO", and ""
    for unanswerable (the published files give "" three times; an empty list also becomes [""]).
    """
    return {qid: texts for qid, texts, _ in _questions(path, task)}


def load_predictions(path) -> dict[str, str]:
    """{question id: predicted answer} from a JSON object {qid: text} (what run_squad-style
    scripts write); CAIL2019's list of {"id", "answer"} records is read too."""
    data = load_json(path, "predictions file")
    if isinstance(data, list):
        predictions = {}
        for i, record in enumerate(data):
            if not (isinstance(record, dict) and isinstance(record.get("id"), str)
                    and "answer" in record):
                raise DataError(f"{path}: [{i}]: expected an object with 'id' and 'answer'")
            if record["id"] in predictions:
                raise DataError(f"{path}: duplicate question id {record['id']!r}")
            predictions[record["id"]] = record["answer"]
    elif isinstance(data, dict):
        predictions = data
    else:
        raise DataError(f"{path}: expected a JSON object {{question id: answer text}}")
    for qid, text in predictions.items():
        if not isinstance(text, str):
            raise DataError(f"{path}: the prediction for {qid!r} is not a string: {text!r}")
    return predictions


def evaluate_files(task: str, data_path, predictions_path, metric: str | None = None) -> dict:
    """``evaluate`` on a raw dataset file and a prediction file, with the task's official metric
    unless ``metric`` is given; ``metric`` names the one used. For CJRC the result also has
    ``by_domain``: {domain: {em, f1, average, total, answered, missing}} (the competition ranked by
    the mean of the civil and criminal F1), and the overall sums are added up domain by domain,
    civil first, as CAIL2019's script does."""
    return score_file(task, data_path, load_predictions(Path(predictions_path)), metric)


def score_file(task: str, data_path, predictions: dict[str, str], metric: str | None = None) -> dict:
    """``evaluate_files`` with the predictions given as {question id: answer text}."""
    metric = metric or TASK_METRIC.get(task)
    questions = list(_questions(Path(data_path), task))
    references = {qid: texts for qid, texts, _ in questions}  # squad.py refuses a repeated id
    if task != "cjrc":
        result = evaluate(references, predictions, metric=metric)
        result["metric"] = metric
        return result
    domains = sorted(dict.fromkeys(d for _, _, d in questions),
                     key=lambda d: ({"civil": 0, "criminal": 1}.get(d, 2), d))
    by_domain, em_sum, f1_sum, answered = {}, 0.0, 0.0, 0
    for domain in domains:
        subset = {qid: texts for qid, texts, d in questions if d == domain}
        sums = _sums(subset, predictions, metric)
        by_domain[domain] = _scores(*sums, len(subset), metric)
        em_sum, f1_sum, answered = em_sum + sums[0], f1_sum + sums[1], answered + sums[2]
    result = _scores(em_sum, f1_sum, answered, len(references), metric)
    result["unused"] = sum(1 for qid in predictions if qid not in references)
    result["metric"] = metric
    result["by_domain"] = by_domain
    return result

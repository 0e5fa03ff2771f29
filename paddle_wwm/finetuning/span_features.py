"""Span-extraction features (doc_stride windows) and n-best decoding: CMRC 2018, DRCD, CJRC.

The seed's numbers come from Google's ``run_squad.py`` (and the CMRC 2018 / DRCD baseline
derived from it), so both halves follow that script, with two deliberate differences:

* Offsets instead of whitespace words. Google maps answers through whitespace-split words and
  turns predictions back into text by detokenising WordPieces and aligning them with those
  words (``get_final_text``). Here the tokenizer's character offsets do both: an answer's
  character span becomes the tokens that cover it, and a predicted token span becomes the
  exact substring ``context[char_start:char_end]`` of the original context, so punctuation,
  spaces, English words and digits come back as written (never "iphone" for "iPhone").
* An answer-type head for CJRC (span / yes / no / unanswerable, :data:`ANSWER_TYPES`), with
  labels per window and a decoding rule over windows (see :func:`decode_predictions`).

Windows (``doc_stride`` is the STEP, as in Google's script, not Hugging Face's overlap): the
query is cut to ``max_query_length`` tokens; every feature is ``[CLS] query [SEP] window
[SEP]`` where the window holds at most ``max_seq_length - len(query) - 3`` context tokens and
window starts advance by ``min(window length, doc_stride)`` until a window reaches the end of
the context. This equals a Hugging Face fast tokenizer's ``return_overflowing_tokens=True``
with ``stride = max_tokens_for_doc - doc_stride`` whenever ``doc_stride <= max_tokens_for_doc``.

A context token seen by several windows is only scored (as an answer start) in the window
where it has the most context (Google's ``_check_is_max_context``): score
``min(left, right) + 0.01 * window length``, ties to the earlier window.

Training labels:

* SPAN: ``start_position`` / ``end_position`` are the sequence indices of the first answer's
  covering tokens in every window that holds the whole answer (``answer_type`` span). A window
  that does not hold it gets 0 / 0 (the [CLS]) as in Google's script, and ``answer_type``
  UNANSWERABLE, as in SQuAD 2.0 practice: from that window alone the question cannot be
  answered, and this is what lets the type head tell windows apart (decoding relies on it).
* YES / NO / UNANSWERABLE: 0 / 0 in every window, ``answer_type`` the example's type in every
  window (where the evidence of a yes/no answer lies is not annotated).

An answer boundary inside a token (``"Phone"`` in ``"iPhone"``, one token ``iphone``; ``"499"``
in ``"5499"``, tokens ``54 ##99``) cannot be a token boundary: the target is the covering
tokens, as Google's ``_improve_answer_span`` does for "Japan" in "Japanese", and decoding
returns the exact characters those tokens cover ("iPhone"), never a detokenised string.
Whitespace covers no token: an answer's outer whitespace does not come back (the official
CMRC 2018 / DRCD / CJRC scripts ignore it), inner whitespace does; an answer of whitespace only
covers nothing and its example lands in ``SpanFeatures.unlabelled_examples``.
Answers must sit at ``Answer.start`` of the context (the reader's job): a mismatch raises.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .examples import ANSWER_TYPES, NO, SPAN, UNANSWERABLE, YES, SpanExample

__all__ = ["SpanFeatures", "build_span_features", "decode_predictions", "window_spans",
           "max_context_flags", "DEFAULT_MAX_ANSWER_LENGTH", "DEFAULT_N_BEST_SIZE"]

# CMRC 2018 / DRCD baseline (ymcui/cmrc2018 run_cmrc2018_drcd_baseline.py, after Google's
# run_squad.py): n_best_size 20, max_answer_length 30 TOKENS (a Chinese character is a token,
# so 30 characters of Chinese; CMRC 2018 answers are short phrases, their length limit is
# what the published numbers were measured with).
DEFAULT_N_BEST_SIZE = 20
DEFAULT_MAX_ANSWER_LENGTH = 30

_TYPE_INDEX = {t: i for i, t in enumerate(ANSWER_TYPES)}


@dataclass
class SpanFeatures:
    """All windows of a list of examples, as numpy arrays padded to ``max_seq_length``.

    Row ``i`` is one feature (window); rows of one example are contiguous and in window order.
    ``token_to_char[i, j]`` is the context character span ``(start, end)`` of sequence
    position ``j`` when it is a window token, ``(-1, -1)`` for [CLS], query, [SEP] and padding.
    ``max_context[i, j]``: position ``j`` is a window token scored in this window.
    ``window_start`` / ``window_length``: the window as context-token indices; ``doc_offset``:
    sequence position of its first token (``len(query) + 2``).
    The labels are None unless built with ``training=True``. ``unlabelled_examples``: indices
    of SPAN examples whose answer no window holds whole (or that covers no token), whose every
    window is labelled unanswerable; worth logging.
    """
    input_ids: np.ndarray  # (n, L) int64
    token_type_ids: np.ndarray  # (n, L) int64
    attention_mask: np.ndarray  # (n, L) int64
    example_index: np.ndarray  # (n,) int64
    window_start: np.ndarray  # (n,) int64
    window_length: np.ndarray  # (n,) int64
    doc_offset: np.ndarray  # (n,) int64
    token_to_char: np.ndarray  # (n, L, 2) int32
    max_context: np.ndarray  # (n, L) bool
    start_positions: np.ndarray | None = None  # (n,) int64
    end_positions: np.ndarray | None = None  # (n,) int64
    answer_types: np.ndarray | None = None  # (n,) int64, index in ANSWER_TYPES
    unlabelled_examples: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)

    def batch(self, indices) -> dict[str, np.ndarray]:
        """Model inputs (and labels, when present) of the features at ``indices``."""
        out = {"input_ids": self.input_ids[indices], "token_type_ids": self.token_type_ids[indices],
               "attention_mask": self.attention_mask[indices]}
        if self.start_positions is not None:
            out["start_positions"] = self.start_positions[indices]
            out["end_positions"] = self.end_positions[indices]
            out["answer_types"] = self.answer_types[indices]
        return out

    def feature_ranges(self, num_examples: int) -> np.ndarray:
        """``(num_examples + 1,)`` boundaries: the features of example ``k`` are rows
        ``ranges[k]:ranges[k + 1]``."""
        return np.searchsorted(self.example_index, np.arange(num_examples + 1), side="left")


def window_spans(num_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """``(start, length)`` of the windows over ``num_tokens`` context tokens (Google's loop).
    A context without tokens still gets one empty window, so that every example has a
    feature (Google's script would drop it and leave it without a prediction)."""
    if max_tokens_for_doc < 1 or doc_stride < 1:
        raise ValueError(f"max_tokens_for_doc ({max_tokens_for_doc}) and doc_stride ({doc_stride}) must be >= 1")
    spans = []
    start = 0
    while True:
        length = min(num_tokens - start, max_tokens_for_doc)
        spans.append((start, length))
        if start + length >= num_tokens:
            return spans
        start += min(length, doc_stride)


def max_context_flags(spans: Sequence[tuple[int, int]], num_tokens: int) -> list[np.ndarray]:
    """For each window, a bool per window token: is the window this token's max-context one?
    (Google's ``_check_is_max_context``, vectorised: the best window per token is the argmax
    of ``min(left, right) + 0.01 * length`` over the windows holding it; ``np.argmax`` takes
    the first of equal scores, like Google's strict ``>``.)"""
    if len(spans) == 1:
        return [np.ones(spans[0][1], dtype=bool)]
    pos = np.arange(num_tokens)
    scores = np.full((len(spans), num_tokens), -np.inf)
    for w, (start, length) in enumerate(spans):
        end = start + length - 1
        inside = pos[start:end + 1]
        scores[w, start:end + 1] = np.minimum(inside - start, end - inside) + 0.01 * length
    best = np.argmax(scores, axis=0)
    return [best[start:start + length] == w for w, (start, length) in enumerate(spans)]


def _answer_token_span(example: SpanExample, starts: np.ndarray, ends: np.ndarray) -> tuple[int, int] | None:
    """Context-token indices ``(first, last)`` covering the first answer's characters, or None
    when no token covers any of them (an answer of whitespace only)."""
    answer = example.answers[0]
    char_start, char_end = answer.start, answer.start + len(answer.text)
    if not answer.text or answer.start < 0 or example.context[char_start:char_end] != answer.text:
        raise ValueError(f"{example.where or example.qid}: answer {answer.text!r} is not at character "
                         f"{answer.start} of the context")
    first = int(np.searchsorted(ends, char_start, side="right"))  # first token ending after char_start
    last = int(np.searchsorted(starts, char_end, side="left")) - 1  # last token starting before char_end
    return (first, last) if first <= last else None


def build_span_features(examples: Sequence[SpanExample], tokenizer, max_seq_length: int = 512,
                        doc_stride: int = 128, max_query_length: int = 64,
                        training: bool = False) -> SpanFeatures:
    """Windows of every example (module docstring for the semantics and labels).

    Contexts (each distinct one once) and questions are tokenized in one ``encode_plain`` call
    each: per-text calls would dominate the run time on CMRC-sized sets.
    """
    if doc_stride < 1:
        raise ValueError(f"doc_stride must be >= 1, got {doc_stride}")
    contexts = list(dict.fromkeys(ex.context for ex in examples))
    context_slot = {c: i for i, c in enumerate(contexts)}
    encoded_contexts = []
    for ids, offsets in tokenizer.encode_plain(contexts, return_offsets=True):
        offs = np.asarray(offsets, dtype=np.int32).reshape(-1, 2)
        encoded_contexts.append((np.asarray(ids, dtype=np.int64), offs))
    queries = tokenizer.encode_plain([ex.question for ex in examples])
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id

    rows = []  # (example_index, query_ids, context slot, window start, length, max_context flags)
    labels = []  # (start_position, end_position, answer_type)
    unlabelled = []
    for k, ex in enumerate(examples):
        query = queries[k][0][:max_query_length]
        slot = context_slot[ex.context]
        ctx_ids, offs = encoded_contexts[slot]
        max_tokens_for_doc = max_seq_length - len(query) - 3
        if max_tokens_for_doc < 1:
            raise ValueError(f"{ex.where or ex.qid}: max_seq_length ({max_seq_length}) leaves no room for the "
                             f"context after {len(query)} query tokens (max_query_length {max_query_length}) "
                             f"and 3 special tokens")
        spans = window_spans(len(ctx_ids), max_tokens_for_doc, doc_stride)
        flags = max_context_flags(spans, len(ctx_ids))
        answer_span = None
        if training:
            if ex.answer_type not in _TYPE_INDEX:
                raise ValueError(f"{ex.where or ex.qid}: unknown answer type {ex.answer_type!r}")
            if ex.answer_type == SPAN:
                if not ex.answers:
                    raise ValueError(f"{ex.where or ex.qid}: a SPAN training example without an answer")
                answer_span = _answer_token_span(ex, offs[:, 0], offs[:, 1])
        labelled = False
        for (start, length), flag in zip(spans, flags):
            rows.append((k, query, slot, start, length, flag))
            if not training:
                continue
            if ex.answer_type != SPAN:
                labels.append((0, 0, _TYPE_INDEX[ex.answer_type]))
            elif answer_span is not None and start <= answer_span[0] and answer_span[1] < start + length:
                doc_offset = len(query) + 2
                labels.append((answer_span[0] - start + doc_offset, answer_span[1] - start + doc_offset,
                               _TYPE_INDEX[SPAN]))
                labelled = True
            else:
                labels.append((0, 0, _TYPE_INDEX[UNANSWERABLE]))
        if training and ex.answer_type == SPAN and not labelled:
            unlabelled.append(k)

    n, L = len(rows), max_seq_length
    input_ids = np.full((n, L), pad_id, dtype=np.int64)
    token_type_ids = np.zeros((n, L), dtype=np.int64)
    attention_mask = np.zeros((n, L), dtype=np.int64)
    token_to_char = np.full((n, L, 2), -1, dtype=np.int32)
    max_context = np.zeros((n, L), dtype=bool)
    meta = np.zeros((n, 4), dtype=np.int64)  # example_index, window_start, window_length, doc_offset
    for i, (k, query, slot, start, length, flag) in enumerate(rows):
        ctx_ids, offs = encoded_contexts[slot]
        q = len(query)
        d = q + 2  # [CLS] query [SEP]
        end = d + length  # the final [SEP]
        input_ids[i, 0] = cls_id
        input_ids[i, 1:d - 1] = query
        input_ids[i, d - 1] = sep_id
        input_ids[i, d:end] = ctx_ids[start:start + length]
        input_ids[i, end] = sep_id
        token_type_ids[i, d:end + 1] = 1
        attention_mask[i, :end + 1] = 1
        token_to_char[i, d:end] = offs[start:start + length]
        max_context[i, d:end] = flag
        meta[i] = (k, start, length, d)
    features = SpanFeatures(input_ids, token_type_ids, attention_mask, meta[:, 0].copy(), meta[:, 1].copy(),
                            meta[:, 2].copy(), meta[:, 3].copy(), token_to_char, max_context,
                            unlabelled_examples=unlabelled)
    if training:
        lab = np.asarray(labels, dtype=np.int64).reshape(-1, 3)
        features.start_positions, features.end_positions, features.answer_types = (
            lab[:, 0].copy(), lab[:, 1].copy(), lab[:, 2].copy())
    return features


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def _row(logits, i: int) -> np.ndarray:
    return np.asarray(logits[i], dtype=np.float64).reshape(-1)


def decode_predictions(examples: Sequence[SpanExample], features: SpanFeatures, start_logits, end_logits,
                       answer_type_logits=None, n_best_size: int = DEFAULT_N_BEST_SIZE,
                       max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH,
                       null_score_diff_threshold: float | None = None, return_nbest: bool = False):
    """Answer text per ``qid`` from per-feature logits (Google's n-best search).

    Args:
        start_logits, end_logits: ``(num_features, seq_len)`` (an array, or one row per
            feature); ``seq_len`` may be shorter than ``max_seq_length`` (dynamic padding).
        answer_type_logits: optional ``(num_features, 4)`` in :data:`ANSWER_TYPES` order (CJRC).
        n_best_size: top starts and top ends taken per feature (over the whole sequence, as
            Google does), and length of the returned n-best lists.
        max_answer_length: longest answer in TOKENS (default 30, the CMRC 2018 baseline's).
        null_score_diff_threshold: without type logits, None (the default; CMRC 2018 and DRCD
            have no unanswerable questions) always answers; a number answers "" when
            ``min over windows of (start_logit[CLS] + end_logit[CLS]) - best span score``
            exceeds it (Google's SQuAD 2.0 rule). Not allowed together with type logits.
        return_nbest: also return ``{qid: [entry, ...]}``, best first, entries with ``text``,
            ``probability`` (softmax over the n-best scores), ``start_logit``, ``end_logit``,
            ``char_start``, ``char_end``, ``feature_index`` (row of ``features``),
            ``start_index``, ``end_index`` (sequence positions).

    A candidate span starts and ends on window tokens, starts on a token whose max-context
    window this is, has ``end >= start`` and at most ``max_answer_length`` tokens; the best
    ``start_logit + end_logit`` over all windows of the example wins (ties: earlier window,
    better start rank, better end rank, as Google's stable sort). Its text is
    ``context[char_start:char_end]``; duplicates of a text are dropped from the n-best.

    With type logits, the answer is "YES", "NO", "" (unanswerable) or the best span, by the
    type with the highest aggregated probability: span / yes / no take the MAX over the
    example's windows, unanswerable the MIN. Training labels every window without the answer
    as unanswerable, so a long context has many windows that rightly say "unanswerable" and
    one that holds the evidence: an average would drown that window (and a max of
    "unanswerable" would always win), while "unanswerable only if every window says so" is
    the same rule as Google's SQuAD 2.0 null score (minimum over windows).
    """
    if answer_type_logits is not None and null_score_diff_threshold is not None:
        raise ValueError("give either answer_type_logits or null_score_diff_threshold, not both")
    n_features = len(features)
    if len(start_logits) != n_features or len(end_logits) != n_features:
        raise ValueError(f"{len(start_logits)} start / {len(end_logits)} end logit rows for {n_features} features")
    if answer_type_logits is not None:
        type_probs = _softmax(np.asarray(answer_type_logits, dtype=np.float64).reshape(n_features, len(ANSWER_TYPES)))
    ranges = features.feature_ranges(len(examples))
    if ranges[-1] != n_features:
        raise ValueError("the features were not built from these examples")
    predictions: dict[str, str] = {}
    all_nbest: dict[str, list[dict]] = {}
    for k, ex in enumerate(examples):
        cand = []  # arrays per feature: feature index, start, end, start logit, end logit
        null_score = np.inf
        for f in range(ranges[k], ranges[k + 1]):
            s, e = _row(start_logits, f), _row(end_logits, f)
            t2c, ctx = features.token_to_char[f], features.max_context[f]
            seq_len = min(len(s), len(e), len(t2c))
            s, e = s[:seq_len], e[:seq_len]
            null_score = min(null_score, s[0] + e[0])
            si = np.argsort(-s, kind="stable")[:n_best_size]
            ei = np.argsort(-e, kind="stable")[:n_best_size]
            S = np.repeat(si, len(ei))  # start outer, end inner: Google's loop order
            E = np.tile(ei, len(si))
            ok = (t2c[S, 0] >= 0) & (t2c[E, 0] >= 0) & ctx[S] & (E >= S) & (E - S + 1 <= max_answer_length)
            if ok.any():
                S, E = S[ok], E[ok]
                cand.append((np.full(len(S), f), S, E, s[S], e[E]))
        nbest = []
        if cand:
            F, S, E, SL, EL = (np.concatenate(c) for c in zip(*cand))
            seen = set()
            for j in np.argsort(-(SL + EL), kind="stable"):
                if len(nbest) >= n_best_size:
                    break
                a, b = features.token_to_char[F[j], S[j], 0], features.token_to_char[F[j], E[j], 1]
                text = ex.context[a:b]
                if text in seen:
                    continue
                seen.add(text)
                nbest.append({"text": text, "start_logit": float(SL[j]), "end_logit": float(EL[j]),
                              "char_start": int(a), "char_end": int(b), "feature_index": int(F[j]),
                              "start_index": int(S[j]), "end_index": int(E[j])})
            probs = _softmax(np.array([x["start_logit"] + x["end_logit"] for x in nbest]))
            for x, p in zip(nbest, probs):
                x["probability"] = float(p)
        best = nbest[0]["text"] if nbest else ""
        if answer_type_logits is not None and ranges[k + 1] > ranges[k]:
            p = type_probs[ranges[k]:ranges[k + 1]]
            agg = p.max(axis=0)
            agg[_TYPE_INDEX[UNANSWERABLE]] = p[:, _TYPE_INDEX[UNANSWERABLE]].min()
            kind = ANSWER_TYPES[int(np.argmax(agg))]
            best = {SPAN: best, YES: "YES", NO: "NO", UNANSWERABLE: ""}[kind]
        elif null_score_diff_threshold is not None and nbest:
            if null_score - (nbest[0]["start_logit"] + nbest[0]["end_logit"]) > null_score_diff_threshold:
                best = ""
        predictions[ex.qid] = best
        all_nbest[ex.qid] = nbest
    return (predictions, all_nbest) if return_nbest else predictions

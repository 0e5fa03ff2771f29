"""Span extraction (CMRC 2018, DRCD) and CJRC's span plus yes / no / unanswerable answers:
doc_stride windows into ``BertForQuestionAnswering``, start/end cross-entropy (plus the answer-type
head's for CJRC), n-best decoding to exact substrings, the task's official metric."""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F

from paddle_wwm.finetuning.examples import ANSWER_TYPES, SPAN
from paddle_wwm.finetuning.mrc_metric import load_predictions, score_file
from paddle_wwm.finetuning.span_features import build_span_features, decode_predictions
from paddle_wwm.modeling import BertForQuestionAnswering

from .base import INPUT_NAMES, Task


class SpanTask(Task):
    """CMRC 2018 and DRCD: every answer is a span of the context."""

    kind = "span"
    metrics = ("em", "f1")
    answer_types = 0  # size of the answer-type head; 0: none

    def build_model(self, source, **kwargs):
        kwargs.setdefault("answer_types", self.answer_types)
        return BertForQuestionAnswering.from_pretrained(source, **kwargs)

    def trainable(self, examples) -> tuple[list, int]:
        """A span example needs its first answer located in the context (the readers keep
        unlocated reference answers with start -1 for the metric)."""
        kept = [e for e in examples if e.answer_type != SPAN or (e.answers and e.answers[0].start >= 0)]
        return kept, len(examples) - len(kept)

    def encode(self, examples, tokenizer, data, training: bool = False):
        """Windows of ``data.max_seq_len`` tokens advancing by ``data.doc_stride``, questions cut
        to ``data.max_query_length`` (``span_features.build_span_features``)."""
        return build_span_features(examples, tokenizer, data.max_seq_len, data.doc_stride, data.max_query_length,
                                   training=training)

    def batch(self, features, indices) -> dict:
        """Inputs cut to the longest window of the batch (CPU time grows with length)."""
        batch = features.batch(indices)
        width = int(batch["attention_mask"].sum(1).max())
        for name in INPUT_NAMES:
            batch[name] = batch[name][:, :width]
        return batch

    def loss(self, outputs, batch):
        loss = (F.cross_entropy(outputs[0], paddle.to_tensor(batch["start_positions"]))
                + F.cross_entropy(outputs[1], paddle.to_tensor(batch["end_positions"]))) / 2
        if self.answer_types:
            loss = loss + F.cross_entropy(outputs[2], paddle.to_tensor(batch["answer_types"]))
        return loss

    def predict(self, outputs, examples, features, data, return_nbest: bool = False):
        """{qid: answer text} by n-best decoding (``data.n_best_size``, ``data.max_answer_length``);
        a third output (answer-type logits) chooses YES / NO / unanswerable / span."""
        starts, ends = outputs[0], outputs[1]
        types = np.stack(outputs[2]) if len(outputs) == 3 and len(outputs[2]) else None
        return decode_predictions(examples, features, starts, ends, types, n_best_size=data.n_best_size,
                                  max_answer_length=data.max_answer_length, return_nbest=return_nbest)

    def load_predictions(self, path) -> dict[str, str]:
        return load_predictions(path)

    def score(self, predictions: dict, path) -> dict:
        """The task's official metric on the raw file ``path``: it counts every question of the
        file, also those the task reader skips (a question without text scores 0)."""
        return score_file(self.name, path, predictions)

    def train_stats(self, features, dropped: int) -> dict:
        return {"features": len(features), "examples_not_trainable": dropped,
                "answers_outside_every_window": len(features.unlabelled_examples)}


class AnswerTypeSpanTask(SpanTask):
    """CJRC: spans, and YES / NO / unanswerable through an answer-type head on [CLS]."""

    answer_types = len(ANSWER_TYPES)

"""Span extraction (CMRC 2018, DRCD, CJRC): doc_stride windows, start/end cross-entropy (plus an
answer-type head for CJRC's yes / no / unanswerable), n-best decoding to exact substrings, and the
official metric of the task on the raw data files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F

from paddle_wwm.atomic_files import write_json_atomic
from paddle_wwm.modeling import BertForQuestionAnswering
from paddle_wwm.modeling.bert import set_dropout
from paddle_wwm.tokenization import BertTokenizer
from paddle_wwm.training import fit, index_batches

from .config import FinetuneConfig
from .examples import ANSWER_TYPES, SPAN
from .mrc_metric import evaluate_files
from .readers import TASKS, split_path
from .span_features import build_span_features, decode_predictions
from .trainer import load_splits


def trainable(examples) -> tuple[list, int]:
    """The examples a model can learn from: a span example needs its first answer located in the
    context (the readers keep unlocated reference answers with start -1 for the metric)."""
    kept = [e for e in examples if e.answer_type != SPAN or (e.answers and e.answers[0].start >= 0)]
    return kept, len(examples) - len(kept)


def _inputs(features, indices) -> tuple:
    """Model inputs of some features, cut to the longest of them (CPU time grows with length)."""
    batch = features.batch(indices)
    width = int(batch["attention_mask"].sum(1).max())
    return batch, tuple(paddle.to_tensor(batch[k][:, :width]) for k in ("input_ids", "token_type_ids", "attention_mask"))


def predict(model, features, batch_size: int) -> tuple[list, list, np.ndarray | None]:
    starts, ends, types = [], [], []
    with paddle.no_grad():
        for indices in index_batches(len(features), batch_size, None):
            _, inputs = _inputs(features, indices)
            outputs = model(*inputs)
            starts.extend(outputs[0].numpy())
            ends.extend(outputs[1].numpy())
            if len(outputs) == 3:
                types.append(outputs[2].numpy())
    return starts, ends, (np.concatenate(types) if types else None)


def run_span(config: FinetuneConfig, seed: int, out_dir: Path, progress: bool = True) -> tuple:
    spec = TASKS[config.task]
    d = config.data
    splits = load_splits(config)
    tokenizer = BertTokenizer()
    train_examples, dropped = trainable(splits["train"])
    train = build_span_features(train_examples, tokenizer, d.max_seq_len, d.doc_stride, d.max_query_length,
                                training=True)
    with_types = len(spec.answer_types) > 1
    paddle.seed(seed)
    model = BertForQuestionAnswering.from_pretrained(config.model.name,
                                                     answer_types=len(ANSWER_TYPES) if with_types else 0)
    if config.model.dropout is not None:
        set_dropout(model, config.model.dropout)

    def step_loss(indices):
        batch, inputs = _inputs(train, indices)
        outputs = model(*inputs)
        loss = (F.cross_entropy(outputs[0], paddle.to_tensor(batch["start_positions"]))
                + F.cross_entropy(outputs[1], paddle.to_tensor(batch["end_positions"]))) / 2
        if with_types:
            loss = loss + F.cross_entropy(outputs[2], paddle.to_tensor(batch["answer_types"]))
        return loss

    stats = fit(model, len(train), step_loss, config, seed, progress)
    stats.update(features=len(train), examples_not_trainable=dropped,
                 answers_outside_every_window=len(train.unlabelled_examples))
    result = {"task": config.task, "seed": seed, "model": config.model.name, "train": stats}
    for split in ("dev", "test"):
        if split not in splits:
            continue
        examples = splits[split]
        features = build_span_features(examples, tokenizer, d.max_seq_len, d.doc_stride, d.max_query_length)
        starts, ends, types = predict(model, features, config.train.eval_batch_size)
        predictions = decode_predictions(examples, features, starts, ends, types, n_best_size=d.n_best_size,
                                         max_answer_length=d.max_answer_length)
        path = out_dir / f"predictions-{split}.json"
        write_json_atomic(path, predictions)
        scores = evaluate_files(config.task, split_path(config.task, d.dir, split), path)
        result[split] = {"em": scores["em"], "f1": scores["f1"]}
    return result, model

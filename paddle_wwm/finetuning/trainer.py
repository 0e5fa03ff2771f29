"""One fine-tuning run (one task, one seed): encode, train with AdamW (warmup 10%, linear decay,
global-norm clipping), predict dev and test, score, write ``result.json``.

Classification tasks use ``BertForSequenceClassification`` on ``[CLS] a [SEP] (b [SEP])``; span
tasks use ``BertForQuestionAnswering`` over doc_stride windows (``span_features.py``) and decode
n-best answers back to exact substrings of the context.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import paddle.nn.functional as F

from paddle_wwm.modeling import BertForSequenceClassification
from paddle_wwm.modeling.bert import set_dropout
from paddle_wwm.atomic_files import write_json_atomic
from paddle_wwm.tokenization import BertTokenizer
from paddle_wwm.training import fit, index_batches, pad_rows

from .config import FinetuneConfig
from .readers import TASKS, read_examples, split_path

RESULT_FILE = "result.json"
MODEL_DIR = "model"


def load_splits(config: FinetuneConfig) -> dict:
    """{split: examples} for the splits present in the data directory (train is required)."""
    spec = TASKS[config.task]
    splits = {}
    for split in spec.files:
        path = Path(config.data.dir) / spec.files[split]
        if split == "train" or path.is_file():
            splits[split] = read_examples(config.task, split_path(config.task, config.data.dir, split)).examples
    return splits


# -- classification -------------------------------------------------------------------------------
def encode_classification(tokenizer: BertTokenizer, examples, max_seq_len: int) -> list[dict]:
    pairs = [e.text_b for e in examples] if examples and examples[0].text_b is not None else None
    encoded = tokenizer([e.text_a for e in examples], pairs, max_seq_len=max_seq_len, truncation="longest_first")
    return [{"input_ids": ids, "token_type_ids": types}
            for ids, types in zip(encoded["input_ids"], encoded["token_type_ids"])]


def _classification_batch(features: list[dict], indices) -> tuple:
    rows = [features[int(i)] for i in indices]
    ids = pad_rows([r["input_ids"] for r in rows])
    types = pad_rows([r["token_type_ids"] for r in rows])
    return paddle.to_tensor(ids), paddle.to_tensor(types), paddle.to_tensor((ids != 0).astype(np.int64))


def run_classification(config: FinetuneConfig, seed: int, out_dir: Path, progress: bool = True) -> tuple:
    spec = TASKS[config.task]
    splits = load_splits(config)
    tokenizer = BertTokenizer()
    features = {split: encode_classification(tokenizer, examples, config.data.max_seq_len)
                for split, examples in splits.items()}
    paddle.seed(seed)
    model = BertForSequenceClassification.from_pretrained(config.model.name, num_classes=len(spec.labels))
    if config.model.dropout is not None:
        set_dropout(model, config.model.dropout)
    labels = np.asarray([e.label for e in splits["train"]], dtype=np.int64)

    def step_loss(indices):
        ids, types, mask = _classification_batch(features["train"], indices)
        logits = model(ids, types, mask)
        return F.cross_entropy(logits, paddle.to_tensor(labels[indices]))

    stats = fit(model, len(labels), step_loss, config, seed, progress)
    result = {"task": config.task, "seed": seed, "model": config.model.name, "train": stats}
    for split in ("dev", "test"):
        if split not in splits:
            continue
        predicted = predict_classes(model, features[split], config.train.eval_batch_size)
        gold = [e.label for e in splits[split]]
        guids = [e.guid for e in splits[split]]
        write_json_atomic(out_dir / f"predictions-{split}.json",
                   {guid: spec.labels[p] for guid, p in zip(guids, predicted.tolist())})
        if all(g is not None for g in gold):
            result[split] = {"accuracy": 100.0 * float(np.mean(predicted == np.asarray(gold)))}
    return result, model


def predict_classes(model, features: list[dict], batch_size: int) -> np.ndarray:
    out = []
    with paddle.no_grad():
        for indices in index_batches(len(features), batch_size, None):
            logits = model(*_classification_batch(features, indices))
            out.append(logits.argmax(-1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def run_one(config: FinetuneConfig, seed: int, out_dir: Path, progress: bool = True) -> dict:
    """Fine-tune and evaluate with one seed; writes (with ``train.save_model`` also the model) and
    returns ``result.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if TASKS[config.task].kind == "classification":
        result, model = run_classification(config, seed, out_dir, progress)
    else:
        from .span_trainer import run_span

        result, model = run_span(config, seed, out_dir, progress)
    if config.train.save_model:
        model.save_pretrained(out_dir / MODEL_DIR, overwrite=True)
        result["model_dir"] = MODEL_DIR
    write_json_atomic(out_dir / RESULT_FILE, result)  # last: a seed with this file is finished
    return result

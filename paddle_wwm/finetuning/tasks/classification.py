"""Sentence and sentence-pair classification (XNLI, ChnSentiCorp, LCQMC, BQ, THUCNews):
``[CLS] a [SEP] (b [SEP])`` into ``BertForSequenceClassification``, cross-entropy, accuracy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn.functional as F

from paddle_wwm.finetuning.json_data import DataError, load_json
from paddle_wwm.training import pad_rows
from paddle_wwm.modeling import BertForSequenceClassification

from .base import Task


@dataclass
class ClassificationFeatures:
    """Token ids of each example, unpadded; ``labels`` are the class indices (None when any
    example has none)."""
    input_ids: list
    token_type_ids: list
    labels: np.ndarray | None
    pad_token_id: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class ClassificationTask(Task):
    kind = "classification"
    metrics = ("accuracy",)

    def __init__(self, name: str, labels):
        super().__init__(name)
        self.labels = tuple(labels)  # class index -> label as written in the data and predictions

    def build_model(self, source, **kwargs):
        return BertForSequenceClassification.from_pretrained(source, num_classes=len(self.labels), **kwargs)

    def encode(self, examples, tokenizer, data, training: bool = False) -> ClassificationFeatures:
        """``data.max_seq_len`` bounds each sequence (longest-first truncation of a pair)."""
        pairs = [e.text_b for e in examples] if examples and examples[0].text_b is not None else None
        encoded = tokenizer([e.text_a for e in examples], pairs, max_seq_len=data.max_seq_len,
                            truncation="longest_first")
        labels = [e.label for e in examples]
        return ClassificationFeatures(encoded["input_ids"], encoded["token_type_ids"],
                                      None if None in labels else np.asarray(labels, dtype=np.int64),
                                      tokenizer.pad_token_id)

    def batch(self, features: ClassificationFeatures, indices) -> dict:
        rows = [int(i) for i in indices]
        ids = pad_rows([features.input_ids[i] for i in rows], features.pad_token_id)
        lengths = np.asarray([len(features.input_ids[i]) for i in rows])
        batch = {"input_ids": ids, "token_type_ids": pad_rows([features.token_type_ids[i] for i in rows]),
                 "attention_mask": (np.arange(ids.shape[1]) < lengths[:, None]).astype(np.int64)}
        if features.labels is not None:
            batch["labels"] = features.labels[rows]
        return batch

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs, paddle.to_tensor(batch["labels"]))

    @staticmethod
    def probabilities(outputs) -> np.ndarray:
        """(examples, classes) class probabilities from ``run_model``'s outputs."""
        logits = outputs[0] if outputs else []
        return softmax(np.stack(logits)) if len(logits) else np.zeros((0, 0), dtype=np.float32)

    def predict(self, outputs, examples, features, data=None) -> dict:
        """{guid: label} of each example."""
        classes = self.probabilities(outputs).argmax(-1) if examples else []
        return {e.guid: self.labels[int(c)] for e, c in zip(examples, classes)}

    def load_predictions(self, path) -> dict[str, str]:
        """{guid: label} from a JSON object; a label outside the task's labels is a DataError."""
        predictions = load_json(path, "predictions file")
        if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
            raise DataError(f"{path}: expected a JSON object {{id: label}}")
        unknown = sorted({v for v in predictions.values() if v not in self.labels})
        if unknown:
            raise DataError(f"{path}: labels {unknown[:5]} are not labels of {self.name} {list(self.labels)}")
        return predictions

    def score(self, predictions: dict, path) -> dict:
        """Accuracy (x100) over the labelled examples of ``path``; a missing prediction is wrong."""
        labelled = [e for e in self.read(path) if e.label is not None]
        correct = sum(predictions.get(e.guid) == self.labels[e.label] for e in labelled)
        return {"accuracy": 100.0 * correct / max(1, len(labelled)), "total": len(labelled),
                "missing": sum(e.guid not in predictions for e in labelled)}

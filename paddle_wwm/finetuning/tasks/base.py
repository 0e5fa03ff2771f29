"""What every fine-tuning task object does, and the loop that runs a model over features.

A task object turns examples into features (``encode``), features into a batch of numpy arrays
(``batch``: the model inputs, plus the labels of training features), model outputs and a batch
into a loss (``loss``), the model outputs over all features into predictions keyed by example id
(``predict``), and predictions into the official scores of a data file (``score``). The runner
(``finetuning/one_run.py``) and the PaddleHub module (``integrations/hub_tasks.py``) drive them.
"""
from __future__ import annotations

import numpy as np
import paddle

from paddle_wwm.finetuning.readers import read_examples
from paddle_wwm.training import index_batches

INPUT_NAMES = ("input_ids", "token_type_ids", "attention_mask")


def model_inputs(batch: dict) -> tuple:
    """The tensors a BERT head takes positionally: ids, token types, attention mask."""
    return tuple(paddle.to_tensor(batch[name]) for name in INPUT_NAMES)


def as_tuple(outputs) -> tuple:
    """A head's outputs as a tuple (a classifier returns one tensor, a QA head a tuple)."""
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


def run_model(model, task, features, batch_size: int, order=None) -> tuple[list, ...]:
    """The model's outputs over ``features`` without gradients, one list of numpy rows per
    output, in feature order. ``order`` (a permutation of the features) sets which features share
    a batch, e.g. sorted by length to pad less."""
    order = np.arange(len(features)) if order is None else np.asarray(order)
    rows: list[list] = []
    with paddle.no_grad():
        for positions in index_batches(len(features), batch_size, None):
            chosen = order[positions]
            outputs = as_tuple(model(*model_inputs(task.batch(features, chosen))))
            rows = rows or [[None] * len(features) for _ in outputs]
            for k, output in enumerate(outputs):
                for i, row in zip(chosen, output.numpy()):
                    rows[k][int(i)] = row
    return tuple(rows)


class Task:
    """Base of the task objects; ``name`` is the task's name in ``readers.TASKS`` (or, for a task
    used outside fine-tuning, any name). ``metrics`` are the scores the runner reports per split."""

    kind = ""
    metrics: tuple[str, ...] = ()

    def __init__(self, name: str):
        self.name = name

    def read(self, path) -> list:
        return read_examples(self.name, path).examples

    def trainable(self, examples) -> tuple[list, int]:
        """The examples a model can learn from, and how many were left out."""
        return list(examples), 0

    def build_model(self, source, **kwargs):
        raise NotImplementedError

    def encode(self, examples, tokenizer, data, training: bool = False):
        raise NotImplementedError

    def batch(self, features, indices) -> dict:
        raise NotImplementedError

    def loss(self, outputs, batch):
        raise NotImplementedError

    def predict(self, outputs, examples, features, data) -> dict:
        raise NotImplementedError

    def score(self, predictions: dict, path) -> dict:
        raise NotImplementedError

    def load_predictions(self, path) -> dict:
        raise NotImplementedError

    def train_stats(self, features, dropped: int) -> dict:
        """What the run records about its training features, beyond the loop's statistics."""
        return {}

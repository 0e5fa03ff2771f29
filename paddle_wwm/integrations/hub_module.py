"""PaddleHub modules for the zoo: the one base class behind every ``hub_modules/<name>/module.py``.

After ``hub install hub_modules/chinese-roberta-wwm-ext`` (or ``paddle-wwm hub install NAME``)::

    module = hub.Module(name="chinese-roberta-wwm-ext", task="seq-cls", num_classes=2,
                        label_map={0: "negative", 1: "positive"}, load_checkpoint=None)
    module.predict([["这家酒店很好"], ["太差了"]], max_seq_len=128, batch_size=32)

PaddleHub's conventions, kept: the constructor arguments (``task``, ``load_checkpoint``,
``label_map``, ``num_classes``, ``suffix``); ``predict(data, max_seq_len, split_char,
batch_size, use_gpu, return_prob)`` over lists of one or two texts; ``get_embedding``;
``get_tokenizer`` (a PaddleNLP tokenizer, as PaddleHub's datasets require); ``forward`` and
``training_step`` / ``validation_step`` with the batch layouts of PaddleHub's datasets, so that
``hub.Trainer`` fine-tunes a module; state dicts that ``hub.Trainer`` saves load back through
``load_checkpoint``. Tasks: None (embeddings), ``seq-cls``, ``token-cls``, ``text-matching`` and
``qa`` (span extraction, which PaddleHub never had).

Where we differ from PaddleHub's ``TransformerModule``, on purpose:
* inputs are padded to the longest text of each batch (PaddleHub pads every text to
  ``max_seq_len``) and carry an attention mask, and ``predict`` batches texts of similar length
  together (results come back in input order): the same outputs, far less padding;
* ``token-cls`` returns one label per input token (the label of its first word piece); PaddleHub
  returns one per word piece including [CLS] and padding. A token with no word piece
  (whitespace) or cut off by ``max_seq_len`` gets None;
* ``get_embedding`` returns ``[pooled, sequence]`` per text with the sequence cut to the text's
  tokens (no padding rows);
* metrics in ``training_step`` / ``validation_step`` are per batch (``hub.Trainer`` averages them
  weighted by batch size: exact for accuracy; for chunk F1 use ``paddle-wwm finetune``).

Weights: a zoo module loads its name from the model store (``paddle_wwm.store.resolve``: store,
PaddleNLP's and Hugging Face's caches, download); offline with none there, the error names
``paddle-wwm import``. A module packaged from a checkpoint (``paddle-wwm hub package``) carries
its weights in ``weights/`` beside its module.py.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddlehub.module.module import serving
from paddlehub.module.nlp_module import TransformerModule

from paddle_wwm.integrations.hub_packaging import BUNDLED_WEIGHTS, HubModuleError
from paddle_wwm.modeling import (BertForQuestionAnswering, BertForSequenceClassification, BertForTextMatching,
                                 BertForTokenClassification, BertModel)

IGNORE_LABEL = -100  # PaddleHub's SeqLabelingDataset label for padding
DEFAULT_MAX_SEQ_LEN = 128  # PaddleHub's TransformerModule.predict default

TASKS = (None, "seq-cls", "token-cls", "text-matching", "qa")
# PaddleHub 2.0's names for the first two tasks.
_TASK_ALIASES = {"sequence_classification": "seq-cls", "token_classification": "token-cls"}
_CLASSIFIER_TASKS = {"seq-cls": BertForSequenceClassification, "token-cls": BertForTokenClassification,
                     "text-matching": BertForTextMatching}


def normalise_task(task):
    task = _TASK_ALIASES.get(task, task)
    if task not in TASKS:
        raise HubModuleError(f"unknown task {task!r}; supported: None (embeddings), "
                             + ", ".join(repr(t) for t in TASKS[1:]))
    return task


def _num_classes(task, num_classes, label_map) -> int | None:
    if task not in _CLASSIFIER_TASKS:
        return None
    if label_map is not None and sorted(label_map) != list(range(len(label_map))):
        raise HubModuleError(f"label_map keys must be the class indices 0..{len(label_map) - 1}, got {sorted(label_map)}")
    if label_map is not None and num_classes is not None and len(label_map) != num_classes:
        raise HubModuleError(f"label_map has {len(label_map)} labels but num_classes={num_classes}")
    if num_classes is None:
        num_classes = len(label_map) if label_map is not None else 2
    if not isinstance(num_classes, int) or num_classes < 1:
        raise HubModuleError(f"num_classes must be a positive int, got {num_classes!r}")
    return num_classes


class WWMTransformerModule(nn.Layer, TransformerModule):
    """Base of every zoo module. A module.py sets ``zoo_name`` (a zoo module) or leaves it None
    (weights bundled in the module directory's ``weights/``) and decorates with ``moduleinfo``."""

    zoo_name: str | None = None
    _tasks_supported = [t for t in TASKS if t]

    def __init__(self, task=None, load_checkpoint=None, label_map=None, num_classes=None, suffix=False, **kwargs):
        super().__init__()
        self.task = normalise_task(task)
        if label_map is not None:
            label_map = {int(k): v for k, v in label_map.items()}  # JSON keys come as strings
        self.num_classes = _num_classes(self.task, num_classes, label_map)
        self.label_map = label_map
        self.suffix = suffix
        if self.task == "token-cls":
            from paddlenlp.metrics import ChunkEvaluator

            if not label_map:
                raise HubModuleError("task 'token-cls' needs label_map (index -> BIO/BIOES tag) for its chunk metric")
            self.metric = ChunkEvaluator(label_list=[label_map[i] for i in range(self.num_classes)], suffix=suffix)
        self.model = self._build_model(self.weights_dir(), kwargs)
        self.vocab_file = str(self.model.vocab_file)
        if load_checkpoint is not None:
            self.load_checkpoint(load_checkpoint)
        self._fast_tokenizer = None
        self.eval()

    # -- weights ------------------------------------------------------------------------------
    @classmethod
    def module_dir(cls) -> Path:
        """The installed module's directory (PaddleHub sets ``directory`` when it loads one)."""
        return Path(getattr(cls, "directory", None) or Path(inspect.getfile(cls)).parent)

    @classmethod
    def weights_dir(cls) -> Path:
        from paddle_wwm import store

        if cls.zoo_name is not None:
            return store.resolve(cls.zoo_name)
        bundled = cls.module_dir() / BUNDLED_WEIGHTS
        if not bundled.is_dir():
            raise store.ModelNotFoundError(f"{bundled}: this packaged module has lost its weights; package it "
                                         "again with: paddle-wwm hub package CHECKPOINT OUT --name NAME")
        return bundled

    def _build_model(self, weights: Path, kwargs: dict):
        from paddle_wwm.checkpoints.layouts import read_checkpoint

        checkpoint = read_checkpoint(weights)
        if self.task is None:
            return BertModel.from_pretrained(checkpoint)
        if self.task == "qa":
            return BertForQuestionAnswering.from_pretrained(checkpoint, **kwargs)
        self._check_classes(checkpoint.state.get("classifier.bias"), weights)
        return _CLASSIFIER_TASKS[self.task].from_pretrained(checkpoint, num_classes=self.num_classes, **kwargs)

    def load_checkpoint(self, path) -> None:
        """Weights from ``hub.Trainer`` (``.../model.pdparams``, this module's state dict) or a
        checkpoint directory of any layout (``paddle-wwm finetune``'s ``seed-N/model``, PaddleNLP,
        Hugging Face). The classifier must match ``num_classes``."""
        path = Path(path)
        if path.is_dir():
            from paddle_wwm.checkpoints.layouts import read_checkpoint
            from paddle_wwm.checkpoints.model_state import load_state

            checkpoint = read_checkpoint(path)
            self._check_classes(checkpoint.state.get("classifier.bias"), checkpoint.source)
            load_state(self.model, checkpoint.state, str(checkpoint.source))
        elif path.is_file():
            state = paddle.load(str(path))
            if not isinstance(state, dict):
                raise HubModuleError(f"{path}: not a state dict")
            self._check_classes(state.get("model.classifier.bias"), path)
            own = self.state_dict()
            unknown, missing = sorted(set(state) - set(own)), sorted(set(own) - set(state))
            if unknown or missing:
                raise HubModuleError(f"{path}: not a state dict of this module (task {self.task!r}): "
                                     f"unexpected {unknown[:5]}, missing {missing[:5]}")
            for name, value in state.items():
                if list(value.shape) != list(own[name].shape):
                    raise HubModuleError(f"{path}: {name} has shape {list(value.shape)}, "
                                         f"the module {list(own[name].shape)}")
            self.set_state_dict(state)
        else:
            raise FileNotFoundError(f"load_checkpoint {path}: no such file or directory")

    def _check_classes(self, bias, source) -> None:
        if self.num_classes is not None and bias is not None and bias.shape[0] != self.num_classes:
            raise HubModuleError(f"{source}: the checkpoint's classifier has {bias.shape[0]} classes "
                                 f"but num_classes={self.num_classes}")

    # -- tokenizers ---------------------------------------------------------------------------
    def get_tokenizer(self, *args, **kwargs):
        """PaddleNLP's BertTokenizer on this model's vocabulary: what PaddleHub's datasets
        (``TextClassificationDataset`` and friends) require. ``predict`` uses our own tokenizer
        (the same ids, see tests/test_hub_modules.py, several times faster)."""
        from paddlenlp.transformers import BertTokenizer

        return BertTokenizer(vocab_file=self.vocab_file, do_lower_case=True)

    @property
    def fast_tokenizer(self):
        if self._fast_tokenizer is None:
            from paddle_wwm.tokenization import BertTokenizer

            self._fast_tokenizer = BertTokenizer(self.vocab_file)
        return self._fast_tokenizer

    # -- forward: PaddleHub's signatures per task ---------------------------------------------
    def _mask(self, input_ids, attention_mask):
        # PaddleHub's datasets pad with [PAD] and pass no mask: derive it, as PaddleNLP's BERT does.
        if attention_mask is None:
            attention_mask = (input_ids != self.model.config.pad_token_id).astype("int64")
        return attention_mask

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None, labels=None,
                seq_lengths=None, query_input_ids=None, query_token_type_ids=None, title_input_ids=None,
                title_token_type_ids=None, start_positions=None, end_positions=None):
        if self.task == "text-matching":
            return self._forward_matching(query_input_ids, query_token_type_ids, title_input_ids,
                                          title_token_type_ids, labels)
        attention_mask = self._mask(input_ids, attention_mask)
        outputs = self.model(input_ids, token_type_ids, attention_mask, position_ids)
        if self.task is None:
            return outputs
        if self.task == "qa":
            return self._qa_outputs(outputs, start_positions, end_positions)
        probs = F.softmax(outputs, axis=-1)
        if labels is None:
            return probs
        if self.task == "seq-cls":
            return probs, F.cross_entropy(outputs, labels.reshape([-1, 1])), {"acc": _accuracy(probs, labels)}
        return self._token_outputs(outputs, probs, attention_mask, seq_lengths, labels)

    def _forward_matching(self, query_input_ids, query_token_type_ids, title_input_ids, title_token_type_ids,
                          labels):
        logits = self.model(query_input_ids, title_input_ids, query_token_type_ids, title_token_type_ids,
                            self._mask(query_input_ids, None), self._mask(title_input_ids, None))
        probs = F.softmax(logits, axis=-1)
        if labels is None:
            return probs
        return probs, F.cross_entropy(logits, labels.reshape([-1, 1])), {"acc": _accuracy(probs, labels)}

    def _token_outputs(self, logits, probs, attention_mask, seq_lengths, labels):
        # PaddleHub's SeqLabelingDataset labels padding with -100 (its ignore_label) and [CLS] /
        # [SEP] with the no-entity tag; positions past seq_lengths (when given) count as padding.
        real = (labels != IGNORE_LABEL) & (attention_mask > 0)
        if seq_lengths is not None:
            positions = paddle.arange(labels.shape[1]).unsqueeze(0)
            real = real & (positions < seq_lengths.reshape([-1, 1]))
        real = real.astype(logits.dtype)
        safe_labels = paddle.where(labels == IGNORE_LABEL, paddle.zeros_like(labels), labels)
        losses = F.cross_entropy(logits, safe_labels.unsqueeze(-1), reduction="none").squeeze(-1)
        loss = (losses * real).sum() / real.sum().clip(min=1.0)
        lengths = real.sum(axis=1).astype("int64")  # the real positions lead every row
        counts = self.metric.compute(lengths, paddle.argmax(logits, axis=-1), safe_labels)
        self.metric.reset()
        self.metric.update(*(c.numpy() for c in counts))
        precision, recall, f1 = self.metric.accumulate()
        return probs, loss, {"precision": precision, "recall": recall, "f1": f1}

    def _qa_outputs(self, outputs, start_positions, end_positions):
        if start_positions is None:
            return outputs
        start_logits, end_logits = outputs[0], outputs[1]
        loss = (F.cross_entropy(start_logits, start_positions.reshape([-1, 1]))
                + F.cross_entropy(end_logits, end_positions.reshape([-1, 1]))) / 2
        hit = (paddle.argmax(start_logits, axis=-1) == start_positions.reshape([-1])) & \
              (paddle.argmax(end_logits, axis=-1) == end_positions.reshape([-1]))
        return outputs, loss, {"span_acc": float(hit.astype("float32").mean())}

    # -- hub.Trainer ----------------------------------------------------------------------------
    def _step(self, batch):
        if self.task == "seq-cls":
            return self(input_ids=batch[0], token_type_ids=batch[1], labels=batch[2])
        if self.task == "token-cls":
            return self(input_ids=batch[0], token_type_ids=batch[1], seq_lengths=batch[2], labels=batch[3])
        if self.task == "text-matching":
            return self(query_input_ids=batch[0], query_token_type_ids=batch[1], title_input_ids=batch[2],
                        title_token_type_ids=batch[3], labels=batch[4])
        if self.task == "qa":
            return self(input_ids=batch[0], token_type_ids=batch[1], start_positions=batch[2], end_positions=batch[3])
        raise HubModuleError("task None (embeddings) has nothing to train; build the module with a task")

    def training_step(self, batch, batch_idx: int):
        _, loss, metrics = self._step(batch)
        return {"loss": loss, "metrics": metrics}

    def validation_step(self, batch, batch_idx: int):
        _, loss, metrics = self._step(batch)
        return {"metrics": metrics}

    # -- inference ------------------------------------------------------------------------------
    def predict(self, data, max_seq_len: int | None = None, split_char: str = "\002", batch_size: int = 1,
                use_gpu: bool = False, return_prob: bool = False):
        """Labels for each item of ``data`` (each a list of one text, or two for pairs and
        text-matching; qa: ``[question, context]``), as ``label_map`` names them (indices
        without one). ``return_prob``: also the probabilities. qa returns per item a dict
        ``text`` (exact substring of the context), ``start``, ``end`` (character offsets),
        ``probability``. ``max_seq_len`` defaults to 128 tokens (PaddleHub's default), or the
        model's positions where it has fewer; a larger value than the model's positions is an error."""
        _set_device(use_gpu)
        items = _check_data(data, self.task)
        if batch_size < 1:
            raise HubModuleError(f"batch_size must be >= 1, got {batch_size}")
        max_seq_len = self._max_seq_len(max_seq_len, DEFAULT_MAX_SEQ_LEN)
        self.eval()
        if self.task == "qa":
            return self._predict_qa(items, max_seq_len, batch_size)
        if self.task == "token-cls":
            return self._predict_tokens(items, max_seq_len, split_char, batch_size, return_prob)
        outputs = self._run_sorted(items, max_seq_len, batch_size)
        if self.task is None:
            return outputs  # [pooled, sequence] per item
        labels = [self._label(int(i)) for i in outputs.argmax(-1)]
        return (labels, outputs.tolist()) if return_prob else labels

    @serving
    def predict_method(self, data, max_seq_len: int | None = None, batch_size: int = 1, use_gpu: bool = False):
        """What ``hub serving start -m NAME`` serves: ``predict``, or ``get_embedding`` for task
        None. (PaddleHub's own version cuts each token-cls result by [1:len(text) + 1], which our
        one-label-per-token results must not get.)"""
        if self.task is None:
            return self.get_embedding(data, use_gpu=use_gpu, max_seq_len=max_seq_len, batch_size=batch_size)
        return self.predict(data, max_seq_len=max_seq_len, batch_size=batch_size, use_gpu=use_gpu)

    def get_embedding(self, data, use_gpu: bool = False, max_seq_len: int | None = None, batch_size: int = 32):
        """``[pooled_output, sequence_output]`` per item (lists of floats; the sequence holds
        one row per token of the item, [CLS] and [SEP] included). ``max_seq_len`` defaults to
        the model's positions (512 for the zoo)."""
        if self.task is not None:
            raise HubModuleError(f"get_embedding needs task=None, this module was built with task {self.task!r}")
        return self.predict(data, max_seq_len=self._max_seq_len(max_seq_len, None), batch_size=batch_size,
                            use_gpu=use_gpu)

    def _max_seq_len(self, asked: int | None, default: int | None) -> int:
        """What the caller asked for, checked against the position embeddings; unasked, the
        default cut to them (None: all of them)."""
        positions = self.model.config.max_position_embeddings
        if asked is None:
            return positions if default is None else min(default, positions)
        if not isinstance(asked, int) or not 3 <= asked <= positions:  # [CLS] a token [SEP] at least
            raise HubModuleError(f"max_seq_len must be an int in 3..{positions} (the model's positions), "
                                 f"got {asked!r}")
        return asked

    def _label(self, index: int):
        return self.label_map[index] if self.label_map else index

    def _encode(self, items, max_seq_len):
        if self.task == "text-matching":  # query and title encoded apart: (queries, titles)
            return tuple(self.fast_tokenizer([i[k] for i in items], max_seq_len=max_seq_len, padding="longest",
                                             return_tensors="pd") for k in (0, 1))
        pairs = [i[1] for i in items] if len(items[0]) == 2 else None
        return self.fast_tokenizer([i[0] for i in items], pairs, max_seq_len=max_seq_len, padding="longest",
                                   return_tensors="pd")

    def _run_sorted(self, items, max_seq_len, batch_size):
        """Run items in batches of similar length; outputs in input order."""
        lengths = [sum(len(t) for t in item) for item in items]
        order = np.argsort(lengths, kind="stable")
        results = [None] * len(items)
        with paddle.no_grad():
            for begin in range(0, len(items), batch_size):
                chosen = order[begin:begin + batch_size]
                batch = [items[i] for i in chosen]
                for i, out in zip(chosen, self._run_batch(batch, max_seq_len)):
                    results[i] = out
        if self.task is None:
            return results
        return np.stack(results) if results else np.zeros((0, self.num_classes), dtype="float32")

    def _run_batch(self, batch, max_seq_len):
        if self.task == "text-matching":
            queries, titles = self._encode(batch, max_seq_len)
            logits = self.model(queries["input_ids"], titles["input_ids"], queries["token_type_ids"],
                                titles["token_type_ids"], queries["attention_mask"], titles["attention_mask"])
            return F.softmax(logits, axis=-1).numpy()
        encoded = self._encode(batch, max_seq_len)
        outputs = self.model(encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"])
        if self.task is None:
            sequence, pooled = outputs[0].numpy(), outputs[1].numpy()
            lengths = encoded["attention_mask"].sum(axis=1).numpy()
            return [[p.tolist(), s[:n].tolist()] for p, s, n in zip(pooled, sequence, lengths)]
        return F.softmax(outputs, axis=-1).numpy()

    def _predict_tokens(self, items, max_seq_len, split_char, batch_size, return_prob):
        tokenizer = self.fast_tokenizer
        labels, probs = [], []
        with paddle.no_grad():
            for begin in range(0, len(items), batch_size):
                rows, firsts = [], []
                for (text,) in items[begin:begin + batch_size]:
                    ids, first = _word_pieces(tokenizer, text.split(split_char), max_seq_len)
                    rows.append(ids)
                    firsts.append(first)
                width = max(len(r) for r in rows)
                input_ids = np.full((len(rows), width), tokenizer.pad_token_id, dtype="int64")
                for r, ids in enumerate(rows):
                    input_ids[r, :len(ids)] = ids
                input_ids = paddle.to_tensor(input_ids)
                token_probs = F.softmax(self.model(input_ids, None, self._mask(input_ids, None)), axis=-1).numpy()
                for row, first in zip(token_probs, firsts):
                    labels.append([None if f is None else self._label(int(row[f].argmax())) for f in first])
                    probs.append([None if f is None else row[f].tolist() for f in first])
        return (labels, probs) if return_prob else labels

    def _predict_qa(self, items, max_seq_len, batch_size):
        from paddle_wwm.finetuning.examples import SpanExample
        from paddle_wwm.finetuning.span_features import build_span_features, decode_predictions
        from paddle_wwm.finetuning.span_trainer import predict as predict_spans

        examples = [SpanExample(qid=str(i), context=context, question=question)
                    for i, (question, context) in enumerate(items)]
        # Google's run_squad proportions (384 tokens, stride 128, query 64), scaled to max_seq_len.
        features = build_span_features(examples, self.fast_tokenizer, max_seq_length=max_seq_len,
                                       doc_stride=max(1, max_seq_len // 3), max_query_length=max(1, max_seq_len // 6))
        starts, ends, types = predict_spans(self.model, features, batch_size)
        answers, nbest = decode_predictions(examples, features, starts, ends, types, return_nbest=True)
        results = []
        for example in examples:
            best = nbest[example.qid][0] if nbest[example.qid] else None
            text = answers[example.qid]
            span = best is not None and best["text"] == text
            results.append({"text": text, "start": best["char_start"] if span else -1,
                            "end": best["char_end"] if span else -1,
                            "probability": best["probability"] if span else None})
        return results


def _word_pieces(tokenizer, tokens, max_seq_len):
    """[CLS] pieces [SEP] ids of pre-split tokens, and per token the position of its first piece
    (None for a token with no piece or cut by max_seq_len)."""
    ids, first = [tokenizer.cls_token_id], []
    budget = max_seq_len - 1
    for pieces, _ in tokenizer.encode_plain(tokens):
        if not pieces or len(ids) + len(pieces) > budget:
            first.append(None)
            continue
        first.append(len(ids))
        ids.extend(pieces)
    return ids + [tokenizer.sep_token_id], first


def _accuracy(probs, labels) -> float:
    return float((paddle.argmax(probs, axis=-1) == labels.reshape([-1])).astype("float32").mean())


def _set_device(use_gpu: bool) -> None:
    if use_gpu and not paddle.is_compiled_with_cuda():
        raise HubModuleError("use_gpu=True, but this Paddle is built without CUDA (pip install paddlepaddle-gpu)")
    paddle.set_device("gpu" if use_gpu else "cpu")


def _check_data(data, task):
    """``data`` as a list of tuples of texts; a plain string counts as one single-text item."""
    if isinstance(data, str) or not isinstance(data, (list, tuple)):
        raise HubModuleError(f"data must be a list of items (each a list of texts), got {type(data).__name__}")
    wanted = {"text-matching": (2,), "qa": (2,), "token-cls": (1,)}.get(task, (1, 2))
    items = []
    for i, item in enumerate(data):
        item = (item,) if isinstance(item, str) else tuple(item) if isinstance(item, (list, tuple)) else None
        if item is None or len(item) not in wanted or not all(isinstance(t, str) for t in item):
            what = {"text-matching": "[query, title]", "qa": "[question, context]",
                    "token-cls": "[text]"}.get(task, "[text] or [text_a, text_b]")
            raise HubModuleError(f"data[{i}] must be {what} (strings), got {data[i]!r:.80}")
        if len(items) and len(item) != len(items[0]):
            raise HubModuleError(f"data[{i}] has {len(item)} texts but data[0] has {len(items[0])}; "
                                 "do not mix single texts and pairs in one call")
        items.append(item)
    return items


__all__ = ["WWMTransformerModule", "HubModuleError", "TASKS", "normalise_task"]

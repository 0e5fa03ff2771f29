"""One adapter per PaddleHub task of the zoo's modules (``hub_module.WWMTransformerModule``):
what the model is, PaddleHub's ``forward`` / training-step signatures, and ``predict``. The
classification and qa adapters run the fine-tuning task objects (``finetuning/tasks``), so a
module predicts exactly as ``paddle-wwm finetune`` does."""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F

from paddle_wwm.finetuning.config import DataSection
from paddle_wwm.finetuning.examples import ClassificationExample, SpanExample
from paddle_wwm.finetuning.tasks import ClassificationTask, SpanTask, run_model
from paddle_wwm.training import pad_rows
from paddle_wwm.integrations.hub_packaging import HubModuleError
from paddle_wwm.modeling import BertForMaskedLM, BertForTextMatching, BertForTokenClassification, BertModel
from paddle_wwm.modeling.fill_mask import DEFAULT_TOP_K, fill_mask
from paddle_wwm.pretraining.mlm_head import require_trained_head

IGNORE_LABEL = -100  # PaddleHub's SeqLabelingDataset label for padding


def _accuracy(probs, labels) -> float:
    return float((paddle.argmax(probs, axis=-1) == labels.reshape([-1])).astype("float32").mean())


def _classified(logits, labels):
    """PaddleHub's classifier outputs: probabilities, with labels also the loss and accuracy."""
    probs = F.softmax(logits, axis=-1)
    if labels is None:
        return probs
    return probs, F.cross_entropy(logits, labels.reshape([-1, 1])), {"acc": _accuracy(probs, labels)}


def _length_order(items) -> np.ndarray:
    # Items of similar length share a batch: far less padding; results go back in input order.
    return np.argsort([sum(len(t) for t in item) for item in items], kind="stable")


class HubTask:
    """The embeddings module (task None), and the base of the others. ``item_sizes``: how many
    texts an item of ``predict``'s data holds (``item_form`` says it in messages)."""

    name = None
    classifier = False  # has a classifier of num_classes
    item_sizes, item_form = (1, 2), "[text] or [text_a, text_b]"
    serving_method = "predict"  # what `hub serving` calls

    def __init__(self, module):
        self.module = module

    def build_model(self, checkpoint, kwargs: dict):
        return BertModel.from_pretrained(checkpoint)

    def forward(self, input_ids, token_type_ids, position_ids, attention_mask, **unused):
        return self.module.model(input_ids, token_type_ids, self.module.mask(input_ids, attention_mask), position_ids)

    def step(self, batch):
        raise HubModuleError("task None (embeddings) has nothing to train; build the module with a task")

    def _features(self, items, max_seq_len):
        """The items as fine-tuning's sentence (pair) features."""
        task = ClassificationTask(str(self.name), ())
        examples = [ClassificationExample(str(i), item[0], item[1] if len(item) == 2 else None, None)
                    for i, item in enumerate(items)]
        return task, task.encode(examples, self.module.fast_tokenizer, DataSection(max_seq_len=max_seq_len))

    def predict(self, items, max_seq_len, split_char, batch_size, return_prob):
        """``[pooled, sequence]`` per item, the sequence cut to the item's tokens."""
        task, features = self._features(items, max_seq_len)
        sequences, pooled = run_model(self.module.model, task, features, batch_size, _length_order(items)) or ([], [])
        return [[p.tolist(), s[:len(ids)].tolist()] for p, s, ids in zip(pooled, sequences, features.input_ids)]


class SeqClsTask(HubTask):
    name = "seq-cls"
    classifier = True

    def build_model(self, checkpoint, kwargs: dict):
        self.module.check_classes(checkpoint.state.get("classifier.bias"), checkpoint.source)
        return ClassificationTask(self.name, range(self.module.num_classes)).build_model(checkpoint, **kwargs)

    def forward(self, input_ids, token_type_ids, position_ids, attention_mask, labels=None, **unused):
        return _classified(super().forward(input_ids, token_type_ids, position_ids, attention_mask), labels)

    def step(self, batch):
        return self.module(input_ids=batch[0], token_type_ids=batch[1], labels=batch[2])

    def _labelled(self, probs: np.ndarray, return_prob: bool):
        labels = [self.module.label(int(i)) for i in probs.argmax(-1)]
        return (labels, probs.tolist()) if return_prob else labels

    def predict(self, items, max_seq_len, split_char, batch_size, return_prob):
        task, features = self._features(items, max_seq_len)
        outputs = run_model(self.module.model, task, features, batch_size, _length_order(items))
        probs = task.probabilities(outputs) if items else np.zeros((0, self.module.num_classes), dtype="float32")
        return self._labelled(probs, return_prob)


class TextMatchingTask(SeqClsTask):
    """Query and title encoded apart, each by fine-tuning's single-sentence encoding."""

    name = "text-matching"
    item_sizes, item_form = (2,), "[query, title]"

    def build_model(self, checkpoint, kwargs: dict):
        self.module.check_classes(checkpoint.state.get("classifier.bias"), checkpoint.source)
        return BertForTextMatching.from_pretrained(checkpoint, num_classes=self.module.num_classes, **kwargs)

    def forward(self, query_input_ids=None, query_token_type_ids=None, title_input_ids=None,
                title_token_type_ids=None, labels=None, **unused):
        mask = self.module.mask
        logits = self.module.model(query_input_ids, title_input_ids, query_token_type_ids, title_token_type_ids,
                                   mask(query_input_ids, None), mask(title_input_ids, None))
        return _classified(logits, labels)

    def step(self, batch):
        return self.module(query_input_ids=batch[0], query_token_type_ids=batch[1], title_input_ids=batch[2],
                           title_token_type_ids=batch[3], labels=batch[4])

    def predict(self, items, max_seq_len, split_char, batch_size, return_prob):
        task, queries = self._features([(q,) for q, _ in items], max_seq_len)
        _, titles = self._features([(t,) for _, t in items], max_seq_len)
        order, probs = _length_order(items), [None] * len(items)
        with paddle.no_grad():
            for begin in range(0, len(items), batch_size):
                chosen = order[begin:begin + batch_size]
                q, t = (task.batch(features, chosen) for features in (queries, titles))
                logits = self.module.model(*(paddle.to_tensor(side[name]) for name in
                                             ("input_ids", "token_type_ids", "attention_mask") for side in (q, t)))
                for i, row in zip(chosen, F.softmax(logits, axis=-1).numpy()):
                    probs[i] = row
        probs = np.stack(probs) if items else np.zeros((0, self.module.num_classes), dtype="float32")
        return self._labelled(probs, return_prob)


class TokenClsTask(HubTask):
    """One label per input token (the label of its first word piece; None for a token without
    one or cut off by max_seq_len); the chunk metric of the BIO / BIOES tags in label_map."""

    name = "token-cls"
    classifier = True
    item_sizes, item_form = (1,), "[text]"

    def __init__(self, module):
        super().__init__(module)
        from paddlenlp.metrics import ChunkEvaluator

        if not module.label_map:
            raise HubModuleError("task 'token-cls' needs label_map (index -> BIO/BIOES tag) for its chunk metric")
        self.metric = ChunkEvaluator(label_list=[module.label_map[i] for i in range(module.num_classes)],
                                     suffix=module.suffix)

    def build_model(self, checkpoint, kwargs: dict):
        self.module.check_classes(checkpoint.state.get("classifier.bias"), checkpoint.source)
        return BertForTokenClassification.from_pretrained(checkpoint, num_classes=self.module.num_classes, **kwargs)

    def forward(self, input_ids, token_type_ids, position_ids, attention_mask, labels=None, seq_lengths=None,
                **unused):
        attention_mask = self.module.mask(input_ids, attention_mask)
        logits = super().forward(input_ids, token_type_ids, position_ids, attention_mask)
        probs = F.softmax(logits, axis=-1)
        if labels is None:
            return probs
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

    def step(self, batch):
        return self.module(input_ids=batch[0], token_type_ids=batch[1], seq_lengths=batch[2], labels=batch[3])

    def predict(self, items, max_seq_len, split_char, batch_size, return_prob):
        tokenizer, label = self.module.fast_tokenizer, self.module.label
        labels, probs = [], []
        with paddle.no_grad():
            for begin in range(0, len(items), batch_size):
                rows, firsts = [], []
                for (text,) in items[begin:begin + batch_size]:
                    ids, first = _word_pieces(tokenizer, text.split(split_char), max_seq_len)
                    rows.append(ids)
                    firsts.append(first)
                input_ids = paddle.to_tensor(pad_rows(rows, tokenizer.pad_token_id))
                logits = self.module.model(input_ids, None, self.module.mask(input_ids, None))
                for row, first in zip(F.softmax(logits, axis=-1).numpy(), firsts):
                    labels.append([None if f is None else label(int(row[f].argmax())) for f in first])
                    probs.append([None if f is None else row[f].tolist() for f in first])
        return (labels, probs) if return_prob else labels


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


class QATask(HubTask):
    """Span extraction (which PaddleHub never had): fine-tuning's span task over windows."""

    name = "qa"
    item_sizes, item_form = (2,), "[question, context]"

    def build_model(self, checkpoint, kwargs: dict):
        return SpanTask(self.name).build_model(checkpoint, **kwargs)

    def forward(self, input_ids, token_type_ids, position_ids, attention_mask, start_positions=None,
                end_positions=None, **unused):
        outputs = super().forward(input_ids, token_type_ids, position_ids, attention_mask)
        if start_positions is None:
            return outputs
        start_logits, end_logits = outputs[0], outputs[1]
        loss = (F.cross_entropy(start_logits, start_positions.reshape([-1, 1]))
                + F.cross_entropy(end_logits, end_positions.reshape([-1, 1]))) / 2
        hit = (paddle.argmax(start_logits, axis=-1) == start_positions.reshape([-1])) & \
              (paddle.argmax(end_logits, axis=-1) == end_positions.reshape([-1]))
        return outputs, loss, {"span_acc": float(hit.astype("float32").mean())}

    def step(self, batch):
        return self.module(input_ids=batch[0], token_type_ids=batch[1], start_positions=batch[2],
                           end_positions=batch[3])

    def predict(self, items, max_seq_len, split_char, batch_size, return_prob):
        """Per item ``text`` (an exact substring of the context), ``start``, ``end`` (character
        offsets; -1 for a YES / NO / unanswerable answer), ``probability``."""
        task = SpanTask(self.name)
        examples = [SpanExample(qid=str(i), context=context, question=question)
                    for i, (question, context) in enumerate(items)]
        # Google's run_squad proportions (384 tokens, stride 128, query 64), scaled to max_seq_len.
        data = DataSection(max_seq_len=max_seq_len, doc_stride=max(1, max_seq_len // 3),
                           max_query_length=max(1, max_seq_len // 6))
        features = task.encode(examples, self.module.fast_tokenizer, data)
        outputs = run_model(self.module.model, task, features, batch_size)
        answers, nbest = task.predict(outputs, examples, features, data, return_nbest=True)
        results = []
        for example in examples:
            best = nbest[example.qid][0] if nbest[example.qid] else None
            text = answers[example.qid]
            span = best is not None and best["text"] == text
            results.append({"text": text, "start": best["char_start"] if span else -1,
                            "end": best["char_end"] if span else -1,
                            "probability": best["probability"] if span else None})
        return results


class FillMaskTask(HubTask):
    """The top_k fillings of each text's [MASK] tokens (a whole word's masks jointly), each a dict
    of ``tokens``, ``token_ids``, ``score`` (summed log-probability), ``probability`` and
    ``sequence`` (the text filled in): what ``paddle-wwm fill-mask`` prints. ``top_k`` is a
    constructor argument: ``hub.Module(name=..., task="fill-mask", top_k=5)``."""

    name = "fill-mask"
    item_sizes, item_form = (1,), "[text with [MASK]]"

    def build_model(self, checkpoint, kwargs: dict):
        top_k = kwargs.pop("top_k", DEFAULT_TOP_K)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise HubModuleError(f"top_k must be a positive int, got {top_k!r}")
        self.top_k = top_k
        require_trained_head(checkpoint, self.module.zoo_name or checkpoint.source)
        return BertForMaskedLM.from_pretrained(checkpoint, **kwargs)

    def forward(self, input_ids, token_type_ids, position_ids, attention_mask, **unused):
        """Probabilities over the vocabulary at every position."""
        return F.softmax(super().forward(input_ids, token_type_ids, position_ids, attention_mask), axis=-1)

    def step(self, batch):
        raise HubModuleError("task 'fill-mask' does not train through hub.Trainer; train a head with: "
                             "paddle-wwm restore-mlm-head MODEL --corpus TEXT --out DIR")

    def predict(self, items, max_seq_len, split_char, batch_size, return_prob):
        return [[f.to_dict() for f in fill_mask(self.module.model, self.module.fast_tokenizer, text,
                                                top_k=self.top_k, max_len=max_seq_len)]
                for (text,) in items]


class EmbeddingTask(HubTask):
    """Task None: ``[pooled, sequence]`` per item (``get_embedding``, which is what it serves)."""

    serving_method = "get_embedding"


# PaddleHub's tasks (None: embeddings), and PaddleHub 2.0's names of the first two.
HUB_TASKS = {None: EmbeddingTask, "seq-cls": SeqClsTask, "token-cls": TokenClsTask,
             "text-matching": TextMatchingTask, "qa": QATask, "fill-mask": FillMaskTask}
TASK_ALIASES = {"sequence_classification": "seq-cls", "token_classification": "token-cls", "fill_mask": "fill-mask"}

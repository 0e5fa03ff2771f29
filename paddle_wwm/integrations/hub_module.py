"""PaddleHub modules for the zoo: the one base class behind every ``hub_modules/<name>/module.py``;
what each task does is its adapter in ``hub_tasks.py``, chosen once by the constructor.

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
``load_checkpoint``. Tasks: None (embeddings), ``seq-cls``, ``token-cls``, ``text-matching``,
``qa`` (span extraction, which PaddleHub never had) and ``fill-mask`` (top-k fillings of the
[MASK] tokens, a whole word's jointly; ``top_k`` is a constructor argument).

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

Serving: ``batch_window_ms`` (constructor argument, or the environment variable
``PADDLE_WWM_BATCH_WINDOW_MS``; default 0, off) turns on request batching for ``hub serving``.
Requests arriving within that many milliseconds are merged into one forward pass of at most
``batch_max_texts`` texts (default 64), and each request gets its own results. This pays with
``"use_multiprocess": true`` and requests of one or a few texts: the gunicorn workers pass their
requests to the process that built the module (README, speed section). PaddleHub's single-process server takes one request at a time, so there is nothing to
merge (see ``batching.py``).

Weights: a zoo module loads its name from the model store (``paddle_wwm.store.resolve``: store,
PaddleNLP's and Hugging Face's caches, download); offline with none there, the error names
``paddle-wwm import``. A module packaged from a checkpoint (``paddle-wwm hub package``) carries
its weights in ``weights/`` beside its module.py.
"""
from __future__ import annotations

import atexit
import inspect
import numbers
import os
from pathlib import Path

import paddle
import paddle.nn as nn
from paddlehub.module.module import serving
from paddlehub.module.nlp_module import TransformerModule

from paddle_wwm.integrations.batching import DEFAULT_MAX_TEXTS, Batcher, BatchServer
from paddle_wwm.integrations.hub_packaging import BUNDLED_WEIGHTS, HubModuleError
from paddle_wwm.integrations.hub_tasks import HUB_TASKS, TASK_ALIASES

DEFAULT_MAX_SEQ_LEN = 128  # PaddleHub's TransformerModule.predict default
TASKS = tuple(HUB_TASKS)


def normalise_task(task):
    task = TASK_ALIASES.get(task, task)
    if task not in HUB_TASKS:
        raise HubModuleError(f"unknown task {task!r}; supported: None (embeddings), "
                             + ", ".join(repr(t) for t in TASKS[1:]))
    return task


def _num_classes(classifier: bool, num_classes, label_map) -> int | None:
    if not classifier:
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

    def __init__(self, task=None, load_checkpoint=None, label_map=None, num_classes=None, suffix=False,
                 batch_window_ms=None, batch_max_texts=DEFAULT_MAX_TEXTS, **kwargs):
        super().__init__()
        self.task = normalise_task(task)
        if label_map is not None:
            label_map = {int(k): v for k, v in label_map.items()}  # JSON keys come as strings
        adapter = HUB_TASKS[self.task]
        self.num_classes = _num_classes(adapter.classifier, num_classes, label_map)
        self.label_map = label_map
        self.suffix = suffix
        self.adapter = adapter(self)  # what the task does: hub_tasks.py
        self.model = self._build_model(self.weights_dir(), kwargs)
        self.vocab_file = str(self.model.vocab_file)
        if load_checkpoint is not None:
            self.load_checkpoint(load_checkpoint)
        self._fast_tokenizer = None
        self.eval()
        self._batching = self._batch_client = None
        self._start_batching(batch_window_ms, batch_max_texts)

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

        return self.adapter.build_model(read_checkpoint(weights), kwargs)

    def load_checkpoint(self, path) -> None:
        """Weights from ``hub.Trainer`` (``.../model.pdparams``, this module's state dict) or a
        checkpoint directory of any layout (``paddle-wwm finetune``'s ``seed-N/model``, PaddleNLP,
        Hugging Face). The classifier must match ``num_classes``."""
        path = Path(path)
        if path.is_dir():
            from paddle_wwm.checkpoints.layouts import read_checkpoint
            from paddle_wwm.checkpoints.model_state import load_state

            checkpoint = read_checkpoint(path)
            self.check_classes(checkpoint.state.get("classifier.bias"), checkpoint.source)
            load_state(self.model, checkpoint.state, str(checkpoint.source))
        elif path.is_file():
            state = paddle.load(str(path))
            if not isinstance(state, dict):
                raise HubModuleError(f"{path}: not a state dict")
            self.check_classes(state.get("model.classifier.bias"), path)
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

    def check_classes(self, bias, source) -> None:
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

    # -- forward: PaddleHub's signatures per task (hub_tasks.py) ---------------------------------
    def mask(self, input_ids, attention_mask):
        # PaddleHub's datasets pad with [PAD] and pass no mask: derive it, as PaddleNLP's BERT does.
        if attention_mask is None:
            attention_mask = (input_ids != self.model.config.pad_token_id).astype("int64")
        return attention_mask

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, attention_mask=None, labels=None,
                seq_lengths=None, query_input_ids=None, query_token_type_ids=None, title_input_ids=None,
                title_token_type_ids=None, start_positions=None, end_positions=None):
        return self.adapter.forward(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
            attention_mask=attention_mask, labels=labels, seq_lengths=seq_lengths, query_input_ids=query_input_ids,
            query_token_type_ids=query_token_type_ids, title_input_ids=title_input_ids,
            title_token_type_ids=title_token_type_ids, start_positions=start_positions, end_positions=end_positions)

    # -- hub.Trainer ----------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int):
        _, loss, metrics = self.adapter.step(batch)
        return {"loss": loss, "metrics": metrics}

    def validation_step(self, batch, batch_idx: int):
        _, loss, metrics = self.adapter.step(batch)
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
        items, max_seq_len = self._checked_request(data, max_seq_len, batch_size)
        self.eval()
        return self.adapter.predict(items, max_seq_len, split_char, batch_size, return_prob)

    @serving
    def predict_method(self, data, max_seq_len: int | None = None, batch_size: int = 1, use_gpu: bool = False):
        """What ``hub serving start -m NAME`` serves: ``predict``, or ``get_embedding`` for task
        None. (PaddleHub's own version cuts each token-cls result by [1:len(text) + 1], which our
        one-label-per-token results must not get.) With batching on, the request is checked
        here and then merged with concurrent ones."""
        # PaddleHub passes its module_info entries named like a local of this method: keep the
        # locals' names clear of them (name, module, version, category, ...).
        if self._batching is None:
            return getattr(self, self.adapter.serving_method)(data, max_seq_len=max_seq_len, batch_size=batch_size,
                                                              use_gpu=use_gpu)
        _check_device(use_gpu)
        items, _ = self._checked_request(data, max_seq_len, batch_size)  # a bad request fails alone, never merged
        return self._submit_batched(items, (max_seq_len, batch_size, bool(use_gpu)))

    # -- request batching (batching.py) --------------------------------------------------------
    def _start_batching(self, window_ms, max_texts) -> None:
        if window_ms is None:
            window_ms = os.environ.get("PADDLE_WWM_BATCH_WINDOW_MS", "0")
        try:
            window_ms = float(window_ms)
            batcher = Batcher(self._run_merged, window_ms, max_texts) if window_ms > 0 else None
        except (TypeError, ValueError):
            raise HubModuleError(f"batch_window_ms must be a number of milliseconds >= 0 and batch_max_texts an "
                                 f"int >= 1, got {window_ms!r} and {max_texts!r}") from None
        if batcher is None:
            return
        # Started here, in the process that builds the module: gunicorn forks its workers after.
        self._batching = (os.getpid(), batcher, BatchServer(batcher))
        atexit.register(self.close_batching)

    def _submit_batched(self, items, key):
        owner, batcher, server = self._batching
        if os.getpid() == owner:
            return batcher.submit(items, key)
        if self._batch_client is None or self._batch_client[0] != os.getpid():
            self._batch_client = (os.getpid(), server.client())
        return self._batch_client[1].submit(items, key)

    def _run_merged(self, items, key):
        max_seq_len, batch_size, use_gpu = key
        return getattr(self, self.adapter.serving_method)(items, max_seq_len=max_seq_len, use_gpu=use_gpu,
                                                          batch_size=max(batch_size, self._batching[1].max_texts))

    def close_batching(self) -> None:
        """Stop the batching threads and remove their socket (only in the process that started
        them; a forked worker just drops its connection). Serving stays on, unbatched."""
        if self._batching is None:
            return
        owner, batcher, server = self._batching
        self._batching = None
        if self._batch_client is not None:
            self._batch_client[1].close()
            self._batch_client = None
        if os.getpid() == owner:
            atexit.unregister(self.close_batching)
            server.close()
            batcher.close()

    def get_embedding(self, data, use_gpu: bool = False, max_seq_len: int | None = None, batch_size: int = 32):
        """``[pooled_output, sequence_output]`` per item (lists of floats; the sequence holds
        one row per token of the item, [CLS] and [SEP] included). ``max_seq_len`` defaults to
        the model's positions (512 for the zoo)."""
        if self.task is not None:
            raise HubModuleError(f"get_embedding needs task=None, this module was built with task {self.task!r}")
        return self.predict(data, max_seq_len=self._max_seq_len(max_seq_len, None), batch_size=batch_size,
                            use_gpu=use_gpu)

    def _checked_request(self, data, max_seq_len: int | None, batch_size) -> tuple[list, int]:
        """(items, max_seq_len) of a predict request, after the checks it gets before any model work."""
        items = _check_data(data, self.adapter)
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise HubModuleError(f"batch_size must be an int >= 1, got {batch_size!r}")
        return items, self._max_seq_len(max_seq_len, DEFAULT_MAX_SEQ_LEN)

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

    def label(self, index: int):
        """A class index as ``label_map`` names it (the index without one)."""
        return self.label_map[index] if self.label_map else index


def _check_device(use_gpu: bool) -> None:
    if use_gpu and not paddle.is_compiled_with_cuda():
        raise HubModuleError("use_gpu=True, but this Paddle is built without CUDA (pip install paddlepaddle-gpu)")


def _set_device(use_gpu: bool) -> None:
    _check_device(use_gpu)
    paddle.set_device("gpu" if use_gpu else "cpu")


def _check_data(data, adapter):
    """``data`` as a list of tuples of texts; a plain string counts as one single-text item."""
    if isinstance(data, str) or not isinstance(data, (list, tuple)):
        raise HubModuleError(f"data must be a list of items (each a list of texts), got {type(data).__name__}")
    items = []
    for i, item in enumerate(data):
        item = (item,) if isinstance(item, str) else tuple(item) if isinstance(item, (list, tuple)) else None
        if item is None or len(item) not in adapter.item_sizes or not all(isinstance(t, str) for t in item):
            raise HubModuleError(f"data[{i}] must be {adapter.item_form} (strings), got {data[i]!r:.80}")
        if len(items) and len(item) != len(items[0]):
            raise HubModuleError(f"data[{i}] has {len(item)} texts but data[0] has {len(items[0])}; "
                                 "do not mix single texts and pairs in one call")
        items.append(item)
    return items


__all__ = ["WWMTransformerModule", "HubModuleError", "TASKS", "normalise_task"]

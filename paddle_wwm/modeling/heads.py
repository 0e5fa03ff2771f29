"""Task heads over BertModel. Every model keeps its encoder under `bert.`, so an encoder-only
checkpoint (as the seed released them) loads into any of them."""
from __future__ import annotations

import paddle
import paddle.nn as nn

from . import cpu_backward
from .bert import BertModel, _layer_norm, _linear, activation
from .config import BertConfig
from .pretrained import PretrainedMixin


class MaskedLMHead(nn.Layer):
    """transform (dense, activation, LayerNorm), then a decoder tied to the word embeddings."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = _linear(config, config.hidden_size, config.hidden_size)
        self.transform_norm = _layer_norm(config)
        self.act = activation(config.hidden_act)
        self.bias = self.create_parameter([config.vocab_size], is_bias=True,
                                          default_initializer=nn.initializer.Constant(0.0))

    def forward(self, hidden_states, word_embeddings):
        # The decoder weight is the word-embedding table itself (passed in, so that it is one
        # parameter under one name), as in Google's BERT.
        hidden_states = self.transform_norm(self.act(self.transform(hidden_states)))
        if cpu_backward.applies(self.training, hidden_states, word_embeddings, self.bias):
            # the same forward; the bias gradient over the vocabulary as a GEMV (cpu_backward.py)
            return cpu_backward.linear(hidden_states, word_embeddings, self.bias, transpose_weight=True)
        return paddle.matmul(hidden_states, word_embeddings, transpose_y=True) + self.bias


MLM_HEAD_PREFIX = "mlm."


def train_only_mlm_head(model: nn.Layer) -> list[str]:
    """Freeze every parameter outside the MLM head (``stop_gradient``): the encoder, the word
    embeddings (so the decoder tied to them stays frozen too), the pooler and any other head.
    Returns the names of the parameters left trainable: the head's transform, its LayerNorm and
    its output bias."""
    trainable = []
    for name, param in model.named_parameters():
        param.stop_gradient = not name.startswith(MLM_HEAD_PREFIX)
        if not param.stop_gradient:
            trainable.append(name)
    if not trainable:
        raise ValueError(f"{type(model).__name__} has no MLM head to train")
    return trainable


def gather_positions(sequence_output, masked_positions):
    """[batch, seq, hidden] at [batch, n] positions -> [batch, n, hidden]."""
    index = masked_positions.astype("int64")[:, :, None].expand(
        [masked_positions.shape[0], masked_positions.shape[1], sequence_output.shape[-1]])
    return paddle.take_along_axis(sequence_output, index, axis=1)


class BertForPretraining(PretrainedMixin, nn.Layer):
    """MLM (+ NSP when with_nsp). forward(..., masked_positions=None) -> (mlm_logits, nsp_logits).

    With masked_positions ([batch, n] token positions) the MLM head runs only there: at 15%
    masking that skips about 85% of the vocabulary projection, the largest GEMM of the model."""

    def __init__(self, config: BertConfig, with_nsp: bool = True):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm = MaskedLMHead(config)
        self.nsp = _linear(config, config.hidden_size, 2) if with_nsp else None

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None,
                masked_positions=None):
        sequence_output, pooled_output = self.bert(input_ids, token_type_ids, attention_mask, position_ids)
        if masked_positions is not None:
            sequence_output = gather_positions(sequence_output, masked_positions)
        mlm_logits = self.mlm(sequence_output, self.bert.embeddings.word_embeddings.weight)
        nsp_logits = self.nsp(pooled_output) if self.nsp is not None else None
        return mlm_logits, nsp_logits


class BertForMaskedLM(PretrainedMixin, nn.Layer):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooler=False)
        self.mlm = MaskedLMHead(config)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None,
                masked_positions=None):
        sequence_output, _ = self.bert(input_ids, token_type_ids, attention_mask, position_ids)
        if masked_positions is not None:
            sequence_output = gather_positions(sequence_output, masked_positions)
        return self.mlm(sequence_output, self.bert.embeddings.word_embeddings.weight)


class _ClassifierOverEncoder(PretrainedMixin, nn.Layer):
    """The encoder, dropout and a linear classifier. Each head below says what the classifier
    reads: the pooled [CLS], every token, or [u, v, |u - v|] of two mean-pooled texts."""
    uses_pooler = True
    features_per_hidden = 1

    def __init__(self, config: BertConfig, num_classes: int = 2, dropout: float | None = None):
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.bert = BertModel(config, add_pooler=self.uses_pooler)
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = _linear(config, self.features_per_hidden * config.hidden_size, num_classes)


class BertForSequenceClassification(_ClassifierOverEncoder):
    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None):
        _, pooled_output = self.bert(input_ids, token_type_ids, attention_mask, position_ids)
        return self.classifier(self.dropout(pooled_output))


class BertForTokenClassification(_ClassifierOverEncoder):
    uses_pooler = False

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None):
        sequence_output, _ = self.bert(input_ids, token_type_ids, attention_mask, position_ids)
        return self.classifier(self.dropout(sequence_output))


class BertForQuestionAnswering(PretrainedMixin, nn.Layer):
    """Span extraction: forward(...) -> (start_logits, end_logits), each [batch, seq].

    With ``answer_types`` > 0 (CJRC: span / yes / no / unanswerable) a linear layer on the pooled
    [CLS] output adds answer-type logits [batch, answer_types] as a third output."""

    def __init__(self, config: BertConfig, answer_types: int = 0):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooler=answer_types > 0)
        self.qa_outputs = _linear(config, config.hidden_size, 2)
        self.answer_type = _linear(config, config.hidden_size, answer_types) if answer_types else None

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None):
        sequence_output, pooled_output = self.bert(input_ids, token_type_ids, attention_mask, position_ids)
        start_logits, end_logits = self.qa_outputs(sequence_output).unbind(axis=-1)
        if self.answer_type is None:
            return start_logits, end_logits
        return start_logits, end_logits, self.answer_type(pooled_output)


def masked_mean(sequence_output, attention_mask):
    mask = attention_mask.astype(sequence_output.dtype)[:, :, None]
    return (sequence_output * mask).sum(axis=1) / mask.sum(axis=1).clip(min=1.0)


class BertForTextMatching(_ClassifierOverEncoder):
    """PaddleHub's text-matching task: query and title encoded separately by one encoder,
    each mean-pooled over its real tokens into u and v; a linear layer on [u, v, |u - v|]."""

    uses_pooler = False
    features_per_hidden = 3  # [u, v, |u - v|]

    def encode(self, input_ids, token_type_ids=None, attention_mask=None):
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).astype("int64")
        sequence_output, _ = self.bert(input_ids, token_type_ids, attention_mask)
        return masked_mean(self.dropout(sequence_output), attention_mask)

    def forward(self, query_input_ids, title_input_ids, query_token_type_ids=None, title_token_type_ids=None,
                query_attention_mask=None, title_attention_mask=None):
        u = self.encode(query_input_ids, query_token_type_ids, query_attention_mask)
        v = self.encode(title_input_ids, title_token_type_ids, title_attention_mask)
        return self.classifier(paddle.concat([u, v, paddle.abs(u - v)], axis=-1))


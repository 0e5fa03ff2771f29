"""The BERT encoder (Devlin et al. 2019) in Paddle, as Google's and Hugging Face's BERT compute it.

Parameter names are our own and stable (see `paddle_wwm.checkpoints.names` for the maps to the
Hugging Face, PaddleNLP and TensorFlow names). Two layout choices are made for speed:
- query, key and value are one [hidden, 3 * hidden] projection (one GEMM instead of three);
- Linear weights are stored [in, out], as paddle.nn.Linear keeps them.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .. import runtime
from . import cpu_backward
from .config import BertConfig
from .layer_norm import LayerNorm
from .pretrained import PretrainedMixin


def _normal_init(config: BertConfig):
    # Google BERT initialises with a normal truncated at two standard deviations.
    return paddle.ParamAttr(initializer=nn.initializer.TruncatedNormal(std=config.initializer_range))


def _linear(config: BertConfig, in_features: int, out_features: int) -> nn.Linear:
    return nn.Linear(in_features, out_features, weight_attr=_normal_init(config),
                     bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)))


def _layer_norm(config: BertConfig) -> LayerNorm:
    # paddle.nn.LayerNorm with a faster backward in CPU dygraph training (see layer_norm.py).
    return LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)


def activation(name: str):
    if name == "gelu":
        return F.gelu  # exact (erf) GELU, as Google and Hugging Face use
    if name in ("gelu_new", "gelu_fast"):
        return lambda x: F.gelu(x, approximate=True)
    if name == "relu":
        return F.relu
    if name == "tanh":
        return paddle.tanh
    raise ValueError(f"unsupported activation {name!r}")


def _cpu_dygraph(x) -> bool:
    return paddle.in_dynamic_mode() and not x.place.is_gpu_place()


def dense(layer: nn.Linear, x):
    """layer(x) for a Linear with bias. On a CPU wheel F.linear runs a matmul and a broadcast add
    (the bias-fused kernel exists on CUDA only); addmm on the 2-D view puts the bias into the
    GEMM's C operand instead (4-8% of the forward time at batch 32). In CPU training the same
    forward gets the faster backward of `cpu_backward.py`. Static graphs keep the plain Linear,
    whose matmul + add Paddle Inference's oneDNN passes fuse themselves."""
    if _cpu_dygraph(x) and layer.bias is not None:
        if cpu_backward.applies(layer.training, x, layer.weight, layer.bias):
            return cpu_backward.linear(x, layer.weight, layer.bias)
        shape = x.shape
        out = paddle.addmm(layer.bias, x.reshape([-1, shape[-1]]), layer.weight)
        return out.reshape([*shape[:-1], layer.weight.shape[1]])
    return layer(x)


def dropout(x, p: float):
    """Training-mode dropout. On CPU in dygraph, a mask from int32 random numbers: paddle's CPU
    dropout kernel draws a float per element through std::bernoulli, about 2x slower forward and
    backward together (benchmarks/bench_pretrain.py: ~4% of a BERT training step). Elsewhere
    paddle's own kernel."""
    if p == 0:
        return x
    if not _cpu_dygraph(x):
        return F.dropout(x, p=p, training=True)
    keep = paddle.randint(0, 2**31 - 1, x.shape, dtype="int32") >= int(p * 2**31)
    return x * (keep.astype(x.dtype) * (1.0 / (1.0 - p)))


def _dropout(layer: nn.Dropout, x):
    # nn.Dropout in eval mode still runs a copy kernel, and jit.save keeps it as an op.
    return dropout(x, layer.p) if layer.training else x


def extended_attention_mask(attention_mask: paddle.Tensor, dtype) -> paddle.Tensor:
    """[batch, seq] of 1 (attend) / 0 (padding) -> additive [batch, 1, 1, seq] bias.

    The padding bias is the dtype's most negative value, as in Hugging Face, so that padded keys
    get exactly zero probability (exp underflows to 0) in fp32, bf16 and fp16 alike."""
    mask = attention_mask.astype(dtype)[:, None, None, :]
    return (1.0 - mask) * paddle.finfo(dtype).min


class BertEmbeddings(nn.Layer):
    def __init__(self, config: BertConfig):
        super().__init__()
        # No padding_idx: paddle's padding_idx forces a zero output for that id, whereas the
        # released checkpoints use the stored [PAD] row like Google's and HF's code does.
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, weight_attr=_normal_init(config))
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                weight_attr=_normal_init(config))
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size,
                                                  weight_attr=_normal_init(config))
        self.layer_norm = _layer_norm(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.max_positions = config.max_position_embeddings

    def forward(self, input_ids, token_type_ids=None, position_ids=None):
        seq_len = input_ids.shape[1]
        # Only a known length can be checked: in a static program (jit.save with a dynamic
        # sequence length) it is -1 or a symbolic value.
        if isinstance(seq_len, int) and seq_len > self.max_positions:
            raise ValueError(f"sequence length {seq_len} exceeds max_position_embeddings {self.max_positions}")
        if position_ids is None:
            position_ids = paddle.arange(seq_len, dtype="int64")[None, :]
        embeddings = self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
        if token_type_ids is None:
            # Row 0 of the token-type table, broadcast: no [batch, seq] lookup needed.
            embeddings = embeddings + self.token_type_embeddings.weight[0]
        else:
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return _dropout(self.dropout, self.layer_norm(embeddings))


class BertSelfAttention(nn.Layer):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.qkv = _linear(config, config.hidden_size, 3 * config.hidden_size)
        self.out = _linear(config, config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob
        self.backend = "auto"  # "auto" | "math" | "sdpa"; see _use_sdpa
        self.captured_probs: list | None = None  # set by capture_intermediates

    def _use_sdpa(self, x) -> bool:
        if self.captured_probs is not None:
            return False  # the fused kernel never forms the probabilities
        if self.backend != "auto":
            return self.backend == "sdpa"
        # paddle's fused attention kernels exist on GPU for half precision only; on CPU the
        # explicit math below is as fast and exact.
        return paddle.is_compiled_with_cuda() and x.place.is_gpu_place() and x.dtype in (
            paddle.float16, paddle.bfloat16)

    def forward(self, hidden_states, attention_bias):
        # reshape's 0 copies batch and sequence from the input (dynamic dims in static graphs too).
        qkv = dense(self.qkv, hidden_states).reshape([0, 0, 3, self.num_heads, self.head_size])
        dropout_p = self.dropout_p if self.training else 0.0
        if self._use_sdpa(hidden_states):
            query, key, value = qkv.unbind(axis=2)  # [batch, seq, heads, head_size]
            context = F.scaled_dot_product_attention(
                query, key, value, attn_mask=attention_bias, dropout_p=dropout_p, training=self.training)
        else:
            cpu_dygraph = _cpu_dygraph(hidden_states)
            if cpu_dygraph:
                # transpose() in dygraph returns a strided view, and every op fed a strided tensor
                # first runs paddle's generic strided copy, 10-25x slower than the transpose kernel
                # einsum uses for this pure permutation (benchmarks/CPU_NOTES.md).
                qkv = paddle.einsum("bsthd->tbhsd", qkv)  # contiguous [3, batch, heads, seq, head]
                # unbind, not qkv[0], qkv[1], qkv[2]: the backward of each slice writes a zero-filled
                # tensor of qkv's full size (10x slower in training; unbind's backward is one stack).
                query, key, value = qkv.unbind(0)
            else:
                qkv = qkv.transpose([2, 0, 3, 1, 4])
                query, key, value = qkv[0], qkv[1], qkv[2]
            scores = paddle.matmul(query * (1.0 / math.sqrt(self.head_size)), key, transpose_y=True)
            if attention_bias is not None:
                if cpu_dygraph:
                    # paddle's CPU add broadcasting [B,1,1,S] over [B,H,S,S] is ~10x slower than
                    # adding two tensors of the same shape.
                    attention_bias = attention_bias.expand(scores.shape)
                scores = scores + attention_bias
            probs = F.softmax(scores, axis=-1)
            if self.captured_probs is not None:
                self.captured_probs.append(probs)
            if dropout_p:
                probs = dropout(probs, dropout_p)
            context = paddle.matmul(probs, value)
            context = paddle.einsum("bhsd->bshd", context) if cpu_dygraph else context.transpose([0, 2, 1, 3])
        return dense(self.out, context.reshape([0, 0, -1]))


class BertLayer(nn.Layer):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertSelfAttention(config)
        self.attention_norm = _layer_norm(config)
        self.intermediate = _linear(config, config.hidden_size, config.intermediate_size)
        self.output = _linear(config, config.intermediate_size, config.hidden_size)
        self.output_norm = _layer_norm(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.act = activation(config.hidden_act)

    def forward(self, hidden_states, attention_bias):
        attended = self.attention(hidden_states, attention_bias)
        hidden_states = self.attention_norm(hidden_states + _dropout(self.dropout, attended))
        feed_forward = dense(self.output, self.act(dense(self.intermediate, hidden_states)))
        return self.output_norm(hidden_states + _dropout(self.dropout, feed_forward))


def set_dropout(model: nn.Layer, p: float) -> None:
    """Use dropout ``p`` everywhere in ``model`` (hidden and attention probabilities): for training
    a loaded checkpoint with another dropout than its config's."""
    for layer in model.sublayers():
        if isinstance(layer, nn.Dropout):
            layer.p = p
        elif isinstance(layer, BertSelfAttention):
            layer.dropout_p = p


class BertPooler(nn.Layer):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = _linear(config, config.hidden_size, config.hidden_size)

    def forward(self, sequence_output):
        return paddle.tanh(self.dense(sequence_output[:, 0]))


class BertModel(PretrainedMixin, nn.Layer):
    """forward(input_ids, token_type_ids, attention_mask, position_ids) -> (sequence_output, pooled_output).

    attention_mask follows Hugging Face: [batch, seq] with 1 for real tokens and 0 for padding;
    None means every token is real (pass a mask whenever a batch is padded)."""

    def __init__(self, config: BertConfig, add_pooler: bool = True):
        # Paddle's CPU defaults (one thread, MKL's SSE2 path on AMD) are fixed here, where models
        # run, rather than at import. Early enough: MKL reads MKL_DEBUG_CPU_TYPE at its first BLAS
        # call, which comes after a model is built. A no-op after the first call.
        runtime.maybe_configure_cpu()
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.LayerList([BertLayer(config) for _ in range(config.num_hidden_layers)])
        self.pooler = BertPooler(config) if add_pooler else None
        # Recompute each layer's activations in the backward pass instead of keeping them
        # (training only): activation memory of one layer instead of all, for ~1/3 more compute.
        self.recompute = False
        self.captured: Intermediates | None = None  # set by capture_intermediates

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None):
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be [batch, seq], got shape {list(input_ids.shape)}")
        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids)
        if self.captured is not None:
            self.captured.hidden_states.append(hidden_states)
        attention_bias = None
        if attention_mask is not None:
            if paddle.in_dynamic_mode() and list(attention_mask.shape) != list(input_ids.shape):
                raise ValueError(f"attention_mask shape {list(attention_mask.shape)} does not match "
                                 f"input_ids shape {list(input_ids.shape)}")
            # An all-ones mask changes nothing; dropping it saves a [B,H,S,S] add per layer (as
            # transformers does). CPU dygraph only: on GPU the check would synchronise the stream.
            if not (_cpu_dygraph(attention_mask) and bool(attention_mask.all())):
                attention_bias = extended_attention_mask(attention_mask, hidden_states.dtype)
        for layer in self.layers:
            if self.recompute and self.training and not hidden_states.stop_gradient:
                from paddle.distributed.fleet.utils import recompute

                hidden_states = recompute(layer, hidden_states, attention_bias)
            else:
                hidden_states = layer(hidden_states, attention_bias)
            if self.captured is not None:
                self.captured.hidden_states.append(hidden_states)
        pooled_output = self.pooler(hidden_states) if self.pooler is not None else None
        return hidden_states, pooled_output

    def set_attention_backend(self, backend: str) -> None:
        if backend not in ("auto", "math", "sdpa"):
            raise ValueError(f"attention backend must be auto, math or sdpa, got {backend!r}")
        for layer in self.layers:
            layer.attention.backend = backend


@dataclass
class Intermediates:
    """What an encoder computed on the way to its outputs, in the order of its layers."""
    hidden_states: list = field(default_factory=list)  # [0]: embedding output, [k]: output of layer k
    attentions: list = field(default_factory=list)  # [k - 1]: layer k's probabilities [batch, heads, seq, seq]


@contextlib.contextmanager
def capture_intermediates(model: nn.Layer, attentions: bool = False):
    """Within the block, every forward of ``model`` (a BertModel or a head over one) appends its
    hidden states, and with ``attentions`` its attention probabilities (before dropout), to the
    yielded :class:`Intermediates`: what distillation matches between teacher and student. Outside
    it the encoder's outputs and speed are unchanged; inside, attention runs the explicit math."""
    encoder = model if isinstance(model, BertModel) else model.bert
    captured = Intermediates()
    encoder.captured = captured
    for layer in encoder.layers:
        layer.attention.captured_probs = captured.attentions if attentions else None
    try:
        yield captured
    finally:
        encoder.captured = None
        for layer in encoder.layers:
            layer.attention.captured_probs = None

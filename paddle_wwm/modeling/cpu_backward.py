"""Dense layers (and dense + GELU) with a faster backward for CPU dygraph training.

Paddle's CPU autograd for `addmm(bias, x, weight)` and `matmul + bias` gets the bias gradient from
its column-sum kernel, which is slow for wide outputs: 48 ms for a [2048, 3072] gradient, where
the two GEMMs of the same backward take about 170 ms and torch's column sum 1 ms. Its exact-GELU
backward is 33 ms for the same shape (torch: 3 ms). `benchmarks/bench_pretrain.py` shows both in
every BERT layer's feed-forward block. Here:

    forward   y = x @ W + b                    (the same addmm kernel as before: same outputs)
    backward  dx = dy @ W^T,  dW = x^T @ dy,   db = ones[1, rows] @ dy   (a GEMV: 1 ms)

and for the feed-forward's first half, `gelu(x @ W + b)` as one function that keeps the
pre-activation and, in backward, forms GELU's derivative from a few same-shape ops:

    cdf = (1 + erf(pre / sqrt 2)) / 2,   out = pre * cdf
    dpre = dy * (cdf + pre * exp(-pre^2 / 2) / sqrt(2 pi))

(together 233 ms against 278 ms for addmm + F.gelu forward and backward at [2048, 768] -> 3072;
cdf is recomputed in backward rather than kept: one tensor of [rows, intermediate] less per layer
for 7 ms.) Gradients an input does not need (a frozen weight, an input without gradient) are not
computed. Evaluation, static graphs (`to_static`, exports), GPUs and non-float32 inputs keep
paddle's own ops.

`applies()` is the one switch for every hand-written CPU backward of the package (the LayerNorm of
`layer_norm.py` too); `set_enabled(False)` turns them all off, for the benchmarks that compare
them with paddle's own kernels.
"""
from __future__ import annotations

import math

import paddle
from paddle.autograd import PyLayer

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_state = {"enabled": True}


def set_enabled(enabled: bool) -> None:
    """Use (True, the default) or bypass every hand-written CPU backward of the package."""
    _state["enabled"] = bool(enabled)


def enabled() -> bool:
    return _state["enabled"]


def applies(training: bool, x, *params) -> bool:
    """True where a hand-written backward replaces paddle's: a training layer in CPU dygraph mode
    with gradients on, float32, and some input or parameter that needs a gradient."""
    return (_state["enabled"] and training and paddle.in_dynamic_mode() and paddle.is_grad_enabled()
            and not x.place.is_gpu_place() and x.dtype == paddle.float32
            and not (x.stop_gradient and all(p.stop_gradient for p in params)))


def _needs_grad(*tensors) -> list[bool]:
    return [not t.stop_gradient for t in tensors]


def _linear_grads(needs, x, weight, grad_out, transpose_weight: bool):
    """(dx, dweight, dbias) of y = x @ W + b (W stored [out, in] when transpose_weight), None where
    not needed."""
    need_x, need_w, need_b = needs
    grad_x = grad_w = grad_b = None
    if need_x:
        grad_x = paddle.matmul(grad_out, weight, transpose_y=not transpose_weight)
    if need_w:
        grad_w = (paddle.matmul(grad_out, x, transpose_x=True) if transpose_weight
                  else paddle.matmul(x, grad_out, transpose_x=True))
    if need_b:
        grad_b = paddle.matmul(paddle.ones([1, grad_out.shape[0]], grad_out.dtype), grad_out).reshape([-1])
    return grad_x, grad_w, grad_b


def _affine(x, weight, bias, transpose_weight: bool):
    if transpose_weight:  # addmm has no transposed form: the forward eval mode runs
        return paddle.matmul(x, weight, transpose_y=True) + bias
    return paddle.addmm(bias, x, weight)


def _gelu_parts(pre):
    """GELU's cdf factor of `pre`: (1 + erf(pre / sqrt 2)) / 2."""
    return paddle.scale(paddle.erf(paddle.scale(pre, _SQRT_HALF)), 0.5, 0.5)


class DenseFunction(PyLayer):
    """x @ W + b for a 2-D x, with the backward above."""

    @staticmethod
    def forward(ctx, x, weight, bias, transpose_weight: bool):
        ctx.save_for_backward(x, weight)
        ctx.transpose_weight = transpose_weight
        ctx.needs = _needs_grad(x, weight, bias)
        return _affine(x, weight, bias, transpose_weight)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensor()
        return _linear_grads(ctx.needs, x, weight, grad_out, ctx.transpose_weight)


class DenseGeluFunction(PyLayer):
    """gelu(x @ W + b) (exact, erf GELU) for a 2-D x, with the backward above."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        pre = paddle.addmm(bias, x, weight)
        ctx.save_for_backward(x, weight, pre)
        ctx.needs = _needs_grad(x, weight, bias)
        return pre * _gelu_parts(pre)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, pre = ctx.saved_tensor()
        density = paddle.exp(paddle.scale(pre * pre, -0.5))
        grad_pre = grad_out * (_gelu_parts(pre) + paddle.scale(pre, _INV_SQRT_2PI) * density)
        return _linear_grads(ctx.needs, x, weight, grad_pre, False)


def linear(x, weight, bias, transpose_weight: bool = False):
    """x @ W + b over the last axis of x (any rank), W [in, out] (or [out, in] when
    transpose_weight, as a decoder tied to an embedding table), through DenseFunction."""
    shape = x.shape
    out = DenseFunction.apply(x.reshape([-1, shape[-1]]), weight, bias, transpose_weight)
    return out.reshape([*shape[:-1], out.shape[-1]])


def linear_gelu(x, weight, bias):
    """gelu(x @ W + b) over the last axis of x (any rank), through DenseGeluFunction."""
    shape = x.shape
    out = DenseGeluFunction.apply(x.reshape([-1, shape[-1]]), weight, bias)
    return out.reshape([*shape[:-1], out.shape[-1]])

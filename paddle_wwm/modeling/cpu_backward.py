"""Dense layers with a faster backward for CPU dygraph training.

Paddle's CPU autograd for `addmm(bias, x, weight)` and `matmul + bias` gets the bias gradient from
its column-sum kernel, which is slow for wide outputs: 48 ms for a [2048, 3072] gradient, where
the two GEMMs of the same backward take about 170 ms and torch's column sum 1 ms
(`benchmarks/bench_pretrain.py` shows it in every BERT layer's feed-forward block and in the MLM
decoder's vocabulary-wide bias). Here:

    forward   y = x @ W + b                    (the same kernels as before: the same outputs)
    backward  dx = dy @ W^T,  dW = x^T @ dy,   db = ones[1, rows] @ dy   (a GEMV: 1 ms)

Gradients an input does not need (a frozen weight, an input without gradient) are not computed.
Evaluation, static graphs (`to_static`, exports), GPUs and non-float32 inputs keep paddle's own
ops. (GELU's backward was tried the same way, fused into this function with its derivative from
erf and exp: no faster than paddle's `gelu_grad` once the bias gradient is out of the way.)

`applies()` is the one switch for every hand-written CPU backward of the package (the LayerNorm of
`layer_norm.py` too); `set_enabled(False)` turns them all off, for the benchmarks that compare
them with paddle's own kernels.
"""
from __future__ import annotations

import paddle
from paddle.autograd import PyLayer

_state = {"enabled": True}


def set_enabled(enabled: bool) -> None:
    """Use (True, the default) or bypass every hand-written CPU backward of the package."""
    _state["enabled"] = bool(enabled)


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


def linear(x, weight, bias, transpose_weight: bool = False):
    """x @ W + b over the last axis of x (any rank), W [in, out] (or [out, in] when
    transpose_weight, as a decoder tied to an embedding table), through DenseFunction."""
    shape = x.shape
    out = DenseFunction.apply(x.reshape([-1, shape[-1]]), weight, bias, transpose_weight)
    return out.reshape([*shape[:-1], out.shape[-1]])

"""LayerNorm over the last axis with a faster backward for CPU dygraph training.

Paddle's CPU layer_norm_grad kernel takes ~19 ms for a [2048, 768] input where torch takes
~1.2 ms; this backward takes ~7.5 ms (`benchmarks/bench_layer_norm.py`). It was most of the gap
between our pre-training step and transformers'. `LayerNorm` keeps `paddle.nn.LayerNorm`'s parameters and names and its forward
output (the same fused kernel computes it), and in CPU dygraph training it attaches a backward
written as a few vectorised ops instead:

    xhat = (x - mean) * rstd,   g = dy * weight
    dx = rstd * (g - mean(g) - xhat * mean(g * xhat))      (means over the normalised axis)
    dweight = sum over rows of dy * xhat,   dbias = sum over rows of dy

Paddle's CPU reductions along an axis are slow (1.4 ms for a row mean of [2048, 768], 3.6 ms for
a column sum), so every reduction here is a GEMV against a constant vector (0.1 ms each).
Evaluation, static graphs (`to_static`, `jit.save` exports), GPUs and non-float32 inputs run
`paddle.nn.LayerNorm` unchanged (`cpu_backward.applies` decides, for every hand-written backward).
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.autograd import PyLayer

from . import cpu_backward


def _mean_and_variance(x):
    """Mean and biased variance over the last axis of a 2-D x, each [rows]."""
    width = x.shape[-1]
    mean = paddle.matmul(x, paddle.full([width, 1], 1.0 / width, x.dtype))
    centred = x - mean
    variance = paddle.matmul(centred * centred, paddle.full([width, 1], 1.0 / width, x.dtype))
    return mean.reshape([-1]), variance.reshape([-1])


def _forward_with_stats(x, weight, bias, epsilon: float):
    """(out, mean, variance) for a 2-D x: paddle's fused layer_norm kernel returns its row
    statistics through the legacy op interface; where that interface is gone they are recomputed."""
    legacy = getattr(paddle, "_legacy_C_ops", None)
    if legacy is not None and hasattr(legacy, "layer_norm"):
        try:
            out, mean, variance = legacy.layer_norm(x, weight, bias, "epsilon", epsilon, "begin_norm_axis", 1)
            return out, mean, variance
        except (TypeError, ValueError, RuntimeError):
            pass
    out = F.layer_norm(x, x.shape[-1:], weight, bias, epsilon)
    return (out, *_mean_and_variance(x))


class LayerNormFunction(PyLayer):
    """layer_norm(x, weight, bias) over the last axis of a 2-D float32 x, with the backward above."""

    @staticmethod
    def forward(ctx, x, weight, bias, epsilon: float):
        out, mean, variance = _forward_with_stats(x, weight, bias, epsilon)
        rstd = paddle.rsqrt(variance + epsilon).reshape([-1, 1])
        ctx.save_for_backward(x, mean.reshape([-1, 1]), rstd, weight)
        # Paddle requires None as the gradient of an input that needs none (a frozen parameter).
        ctx.needs_grad = [not t.stop_gradient for t in (x, weight, bias)]
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, mean, rstd, weight = ctx.saved_tensor()
        rows, width = x.shape
        centred = x - mean
        grad_centred = grad_out * centred
        # Row sums over the normalised axis, as GEMVs: sum(g) and sum(g * xhat) / rstd.
        g_sum = paddle.matmul(grad_out, weight.reshape([width, 1]))
        g_centred_sum = paddle.matmul(grad_centred, weight.reshape([width, 1]))
        # dx = rstd * g - rstd^3 * sum(g * xc) / H * xc - rstd * sum(g) / H, the first term as
        # dy times the outer product rstd weight^T and the last as a rank-1 update: a same-shape
        # multiply and a GEMM cost less than Paddle's broadcasting multiply.
        centred_scale = rstd * rstd * rstd * g_centred_sum * (1.0 / width)
        row_offset = rstd * g_sum * (-1.0 / width)
        scaled = grad_out * paddle.matmul(rstd, weight.reshape([1, width])) - centred * centred_scale
        grad_x = paddle.addmm(scaled, row_offset, paddle.ones([1, width], x.dtype))
        grad_weight = paddle.matmul(rstd.reshape([1, rows]), grad_centred).reshape([width])
        grad_bias = paddle.matmul(paddle.ones([1, rows], x.dtype), grad_out).reshape([width])
        return tuple(grad if needed else None
                     for grad, needed in zip((grad_x, grad_weight, grad_bias), ctx.needs_grad))


def layer_norm(x, weight, bias, epsilon: float):
    """F.layer_norm over the last axis of x (any rank) through LayerNormFunction."""
    shape = x.shape
    out = LayerNormFunction.apply(x.reshape([-1, shape[-1]]), weight, bias, epsilon)
    return out.reshape(shape)


class LayerNorm(nn.LayerNorm):
    """paddle.nn.LayerNorm (same parameters, names and outputs) whose backward is fast on CPU."""

    def forward(self, x):
        if self._fast_backward(x):
            return layer_norm(x, self.weight, self.bias, self._epsilon)
        return super().forward(x)

    def _fast_backward(self, x) -> bool:
        return (len(self._normalized_shape) == 1 and self.weight is not None and self.bias is not None
                and cpu_backward.applies(self.training, x, self.weight, self.bias))

"""Optimizer and learning-rate schedule of the recipes, from Paddle's own AdamW and LAMB.

Weight decay skips every 1-D parameter: the LayerNorm scales and shifts and all biases, as Google's
BERT excludes "LayerNorm" and "bias" (the embedding tables and weight matrices are decayed). Paddle
names parameters ``linear_3.w_0``, so the set is built from the shapes, not from names.
"""
from __future__ import annotations

import paddle

from .grad_clip import ClipGradByGlobalNorm
from .optimizer_config import OPTIMIZERS, OptimizerSection


def no_decay_names(model: paddle.nn.Layer) -> set[str]:
    """Paddle names (``param.name``) of the parameters that get no weight decay."""
    return {p.name for p in model.parameters() if p.ndim == 1}


def warmup_then_linear_decay(base_lr: float, warmup_steps: int, max_steps: int) -> paddle.optimizer.lr.LambdaDecay:
    """0 -> base_lr linearly over warmup_steps, then linearly to 0 at max_steps (Google's BERT).

    The factor for step s (0-based, the s-th optimizer update) is (s + 1) / warmup during warmup,
    so the first update already has a non-zero rate.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (max_steps - step) / max(1, max_steps - warmup_steps))

    return paddle.optimizer.lr.LambdaDecay(base_lr, factor)


def build_optimizer(model: paddle.nn.Layer, o: OptimizerSection, max_steps: int, multi_precision: bool = False):
    """(optimizer, scheduler) for a recipe's optimizer section over ``max_steps`` updates; call
    ``scheduler.step()`` after each update. Clipping is the optimizer's ``grad_clip`` (paddle's global-norm
    clip, faster on CPU: grad_clip.py). Frozen
    parameters (``stop_gradient``) are left out: they get no update, no decay and no state."""
    if o.name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {o.name!r}: optimizers are {OPTIMIZERS}")
    scheduler = warmup_then_linear_decay(o.learning_rate, o.warmup_for(max_steps), max_steps)
    clip = ClipGradByGlobalNorm(o.max_grad_norm) if o.max_grad_norm else None
    skip = no_decay_names(model)
    parameters = [p for p in model.parameters() if not p.stop_gradient]
    if o.name == "lamb":
        optimizer = paddle.optimizer.Lamb(
            learning_rate=scheduler, lamb_weight_decay=o.weight_decay, beta1=o.beta1, beta2=o.beta2,
            epsilon=o.epsilon, parameters=parameters, grad_clip=clip,
            exclude_from_weight_decay_fn=lambda param: param.name in skip, multi_precision=multi_precision)
    else:
        optimizer = paddle.optimizer.AdamW(
            learning_rate=scheduler, beta1=o.beta1, beta2=o.beta2, epsilon=o.epsilon,
            parameters=parameters, weight_decay=o.weight_decay, grad_clip=clip,
            apply_decay_param_fun=lambda name: name not in skip, multi_precision=multi_precision)
    return optimizer, scheduler

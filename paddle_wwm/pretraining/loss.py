"""The pre-training loss: masked-LM over the real masked slots, plus NSP when the model has it.

The MLM mean is taken over the real labels only. ``cross_entropy(..., ignore_index=-100,
reduction="mean")`` cannot be used: Paddle divides by every slot, ignored ones included, when the
ignore index is negative (Paddle issue 48663, fix proposed in PR 76033), which would scale the loss
by the fraction of slots in use.
"""
from __future__ import annotations

import paddle
import paddle.nn.functional as F

from paddle_wwm.wwm.masking import IGNORE_INDEX


def pretraining_loss(mlm_logits, nsp_logits, masked_labels, next_sentence_label=None):
    """(loss, stats): loss = MLM mean over real labels (+ NSP mean); stats are summed counts
    (float32 tensors) for logging: mlm_loss_sum, mlm_correct, mlm_count, nsp_loss_sum,
    nsp_correct, nsp_count."""
    vocab = mlm_logits.shape[-1]
    logits = mlm_logits.reshape([-1, vocab]).astype("float32")
    labels = masked_labels.reshape([-1])
    real = (labels != IGNORE_INDEX).astype("float32")
    per_slot = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none").reshape([-1])
    count = real.sum()
    mlm_loss_sum = (per_slot * real).sum()
    loss = mlm_loss_sum / paddle.clip(count, min=1.0)
    with paddle.no_grad():
        correct = ((logits.argmax(-1) == labels).astype("float32") * real).sum()
    zero = paddle.zeros([], dtype="float32")
    stats = {"mlm_loss_sum": mlm_loss_sum.detach(), "mlm_correct": correct, "mlm_count": count,
             "nsp_loss_sum": zero, "nsp_correct": zero, "nsp_count": zero}
    if nsp_logits is not None and next_sentence_label is not None:
        nsp_logits = nsp_logits.astype("float32")
        nsp_loss = F.cross_entropy(nsp_logits, next_sentence_label.reshape([-1]))
        loss = loss + nsp_loss
        with paddle.no_grad():
            n = float(next_sentence_label.shape[0])
            stats["nsp_loss_sum"] = nsp_loss.detach() * n
            stats["nsp_correct"] = (nsp_logits.argmax(-1) == next_sentence_label.reshape([-1])).astype("float32").sum()
            stats["nsp_count"] = paddle.full([], n, dtype="float32")
    return loss, stats

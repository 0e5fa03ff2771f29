"""The pieces of a distillation loss, each a paddle scalar that backpropagates into the student.

- ``soft_target_loss``: KL(teacher || student) between the softmax distributions of the logits at
  temperature T, scaled by T^2 (Hinton et al. 2015: the gradients of the soft part shrink as
  1/T^2, the scaling keeps them comparable with the hard-label part whatever T is). KL and the
  soft cross-entropy TextBrewer uses differ by the teacher's entropy, a constant for the student:
  same gradients, but KL is 0 when the student matches the teacher.
- ``mix_hard_and_soft``: alpha * hard-label loss + (1 - alpha) * soft-target loss.
- ``hidden_mse``: mean squared error between a student and a teacher hidden state over the real
  tokens, the student's projected to the teacher's size first when the sizes differ.
- ``attention_loss``: MSE or KL between attention probabilities over the real query positions.

Masks are [batch, seq] with 1 for real tokens and 0 for padding (the batches' ``attention_mask``).
"""
from __future__ import annotations

import paddle
import paddle.nn.functional as F

# A logit that the softmax turns into exactly 0 in float32 even after division by a temperature
# of 100: padded positions of span logits drop out of both distributions.
MASKED_LOGIT = -1e6
ATTENTION_LOSSES = ("mse", "kl")
_EPSILON = 1e-12  # under log, where a probability can be exactly 0 (padded keys)


def soft_target_loss(student_logits, teacher_logits, temperature: float, mask=None):
    """KL(softmax(teacher / T) || softmax(student / T)) * T^2, summed over the last axis and
    averaged over the rows (each example; each of start and end for a span head). ``mask``
    ([batch, classes], 1 = a valid class) leaves out positions such as the padding of a span."""
    if mask is not None:
        valid = mask.astype("bool")
        student_logits = paddle.where(valid, student_logits, paddle.full_like(student_logits, MASKED_LOGIT))
        teacher_logits = paddle.where(valid, teacher_logits, paddle.full_like(teacher_logits, MASKED_LOGIT))
    student_log_probs = F.log_softmax(student_logits / temperature, axis=-1)
    teacher_log_probs = F.log_softmax(teacher_logits / temperature, axis=-1)
    kl = (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(axis=-1)
    return kl.mean() * (temperature * temperature)


def mix_hard_and_soft(hard_loss, soft_loss, alpha: float):
    """alpha weighs the labels, 1 - alpha the teacher (alpha 0: the teacher alone)."""
    return alpha * hard_loss + (1.0 - alpha) * soft_loss


def _token_weights(mask, like):
    return mask.astype(like.dtype)


def hidden_mse(student_hidden, teacher_hidden, mask, projection=None):
    """Mean over the real tokens and the teacher's hidden units of (proj(student) - teacher)^2;
    hidden states are [batch, seq, hidden]. ``projection`` maps the student's hidden size to the
    teacher's (a trained linear layer, as TinyBERT and TextBrewer's T4-tiny matches use)."""
    if projection is not None:
        student_hidden = projection(student_hidden)
    if student_hidden.shape[-1] != teacher_hidden.shape[-1]:
        raise ValueError(f"hidden sizes differ (student {student_hidden.shape[-1]}, teacher "
                         f"{teacher_hidden.shape[-1]}) and no projection was given")
    weights = _token_weights(mask, student_hidden)
    squared = ((student_hidden - teacher_hidden) ** 2).sum(axis=-1)
    return (squared * weights).sum() / (weights.sum().clip(min=1.0) * teacher_hidden.shape[-1])


def _average_heads_if_they_differ(student_probs, teacher_probs):
    # Head i of a 2-head student has no counterpart among 4 teacher heads: compare the head means.
    if student_probs.shape[1] != teacher_probs.shape[1]:
        return student_probs.mean(axis=1, keepdim=True), teacher_probs.mean(axis=1, keepdim=True)
    return student_probs, teacher_probs


def attention_loss(student_probs, teacher_probs, mask, kind: str = "mse"):
    """Between attention probabilities [batch, heads, seq, seq] of one student and one teacher
    layer, over the rows of real query tokens (padded keys have probability 0 in both):
    ``mse``: the mean over those rows, the heads and the keys of the squared difference;
    ``kl``: the mean over those rows and the heads of KL(teacher row || student row).
    With different head counts the head-averaged probabilities are compared."""
    if kind not in ATTENTION_LOSSES:
        raise ValueError(f"attention loss must be one of {ATTENTION_LOSSES}, got {kind!r}")
    student_probs, teacher_probs = _average_heads_if_they_differ(student_probs, teacher_probs)
    heads, seq = teacher_probs.shape[1], teacher_probs.shape[-1]
    rows = _token_weights(mask, student_probs)[:, None, :]  # [batch, 1, query]
    if kind == "mse":
        per_row = ((student_probs - teacher_probs) ** 2).sum(axis=-1) / seq
    else:
        per_row = (teacher_probs * (paddle.log(teacher_probs.clip(min=_EPSILON))
                                    - paddle.log(student_probs.clip(min=_EPSILON)))).sum(axis=-1)
    return (per_row * rows).sum() / (rows.sum().clip(min=1.0) * heads)

"""One distillation run: the frozen teacher's outputs (and, when matched, its hidden states and
attention) on every training batch teach the student through the training loop of fine-tuning
(``training.fit``); the student is then scored and saved exactly as a fine-tuned model is
(``finetuning.one_run.score_and_save``), so ``evaluate``, ``export`` and the hub load it."""
from __future__ import annotations

import dataclasses

import paddle
import paddle.nn as nn

from paddle_wwm.finetuning.one_run import score_and_save, training_features
from paddle_wwm.finetuning.tasks.base import as_tuple, model_inputs
from paddle_wwm.modeling.bert import capture_intermediates, set_dropout
from paddle_wwm.training import fit

from .config import DistillConfig, DistillSection
from .losses import attention_loss, hidden_mse, mix_hard_and_soft, soft_target_loss
from .models import (check_layer_map, check_same_vocabulary, load_teacher, parameter_counts,
                     student_checkpoint)

# Span heads score every position: their soft targets leave the padding out. Other outputs
# (classes, CJRC's answer types) have no positions.
_POSITIONAL_OUTPUTS = {"classification": 0, "span": 2}


class StudentWithProjections(nn.Layer):
    """What the optimizer trains: the student and, for each matched pair of hidden states of
    different sizes, a linear map of the student's to the teacher's (dropped after training)."""

    def __init__(self, student, hidden_pairs: list[list[int]], teacher_hidden: int):
        super().__init__()
        self.student = student
        hidden = student.config.hidden_size
        self.projections = nn.LayerList([nn.Linear(hidden, teacher_hidden) for _ in hidden_pairs]
                                        if hidden != teacher_hidden else [])

    def projection(self, k: int):
        return self.projections[k] if len(self.projections) else None


def distillation_loss(task, settings: DistillSection, teacher, trained: StudentWithProjections, batch: dict):
    """(loss, {part: value}) of one batch: alpha * the task's hard-label loss + (1 - alpha) * the
    soft-target loss (averaged over the head's outputs), + hidden_weight * the sum of the hidden-
    state MSEs over ``hidden_layer_map``, + attention_weight * the sum of the attention losses
    over ``attention_layer_map``."""
    inputs = model_inputs(batch)
    mask = inputs[2]
    attentions = settings.attention_weight > 0
    with paddle.no_grad(), capture_intermediates(teacher, attentions) as teacher_seen:
        teacher_outputs = as_tuple(teacher(*inputs))
    with capture_intermediates(trained.student, attentions) as student_seen:
        raw_outputs = trained.student(*inputs)
    student_outputs = as_tuple(raw_outputs)
    positional = _POSITIONAL_OUTPUTS[task.kind]
    soft = sum(soft_target_loss(s, t, settings.temperature, mask if k < positional else None)
               for k, (s, t) in enumerate(zip(student_outputs, teacher_outputs))) / len(student_outputs)
    hard = task.loss(raw_outputs, batch)
    loss = mix_hard_and_soft(hard, soft, settings.alpha)
    parts = {"hard": hard, "soft": soft}
    if settings.hidden_weight > 0:
        parts["hidden"] = sum(hidden_mse(student_seen.hidden_states[s], teacher_seen.hidden_states[t], mask,
                                         trained.projection(k))
                              for k, (s, t) in enumerate(settings.hidden_layer_map))
        loss = loss + settings.hidden_weight * parts["hidden"]
    if attentions:
        parts["attention"] = sum(attention_loss(student_seen.attentions[s - 1], teacher_seen.attentions[t - 1],
                                                mask, settings.attention_loss)
                                 for s, t in settings.attention_layer_map)
        loss = loss + settings.attention_weight * parts["attention"]
    return loss, parts


def build_models(config: DistillConfig, task, seed: int):
    """(teacher, StudentWithProjections), every input checked: the teacher's head, the vocabularies,
    the layer maps."""
    settings = config.distill
    teacher, teacher_source = load_teacher(task, settings.teacher)
    student_source = student_checkpoint(config.model.name, settings.init_layers, seed)
    check_same_vocabulary(teacher_source, student_source)
    student_layers, teacher_layers = (student_source.config.num_hidden_layers,
                                      teacher_source.config.num_hidden_layers)
    check_layer_map(settings.hidden_layer_map, "hidden_layer_map", student_layers, teacher_layers, first=0)
    check_layer_map(settings.attention_layer_map, "attention_layer_map", student_layers, teacher_layers, first=1)
    paddle.seed(seed)
    student = task.build_model(student_source)
    if config.model.dropout is not None:
        set_dropout(student, config.model.dropout)
    matched = settings.hidden_layer_map if settings.hidden_weight > 0 else []  # a map with weight 0 is unused
    return teacher, StudentWithProjections(student, matched, teacher_source.config.hidden_size)


def run_distill(config: DistillConfig, progress: bool = True) -> dict:
    """Distil, score dev and test, write ``result.json``, the predictions and the student's
    checkpoint (``model/``) into ``config.output_dir()``; returns the result."""
    out_dir = config.output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = config.train.seeds[0]
    task, splits, tokenizer, train, dropped = training_features(config)
    teacher, trained = build_models(config, task, seed)

    def step_loss(indices):
        return distillation_loss(task, config.distill, teacher, trained, task.batch(train, indices))[0]

    stats = fit(trained, len(train), step_loss, config, seed, progress)
    stats.update(task.train_stats(train, dropped))
    result = {"task": config.task, "seed": seed, "model": config.model.name, "teacher": config.distill.teacher,
              "distill": dataclasses.asdict(config.distill),
              "parameters": {"teacher": parameter_counts(teacher), "student": parameter_counts(trained.student)},
              "train": stats}
    return score_and_save(trained.student, task, splits, tokenizer, config, out_dir, result, save_model=True)

"""Knowledge distillation of a fine-tuned teacher into a smaller student (Hinton et al. 2015, as
HFL's TextBrewer runs it for the family's small models), on the layers below: the task objects and
data of ``finetuning``, the one training loop of ``training``, the checkpoints of the store.

``losses.py`` (soft targets at a temperature, hard labels, hidden-state and attention matching),
``config.py`` (the recipes of configs/distill/), ``models.py`` (the frozen teacher, the student
from a model config or from chosen layers of a checkpoint), ``run.py`` (one distillation run).
Names are imported on first use, so that reading a recipe imports no paddle.
"""
from __future__ import annotations

import importlib

_HOMES = {
    "DistillConfig": "config", "DistillError": "config", "DistillSection": "config",
    "load_distill_config": "config",
    "attention_loss": "losses", "hidden_mse": "losses", "mix_hard_and_soft": "losses",
    "soft_target_loss": "losses",
    "load_teacher": "models", "select_layers": "models", "student_checkpoint": "models",
    "distillation_loss": "run", "run_distill": "run",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

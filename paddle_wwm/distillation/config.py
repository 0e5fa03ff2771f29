"""Distillation recipes: a fine-tuning recipe (``model`` is the student, ``data``, ``optimizer``,
``train``) plus a ``distill`` section: the teacher, how the student starts, and the loss.
``configs/distill/NAME.yaml`` holds them; ``section.key=value`` overrides them. Paddle-free."""
from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

from paddle_wwm.errors import PaddleWwmError
from paddle_wwm.finetuning.config import SECTIONS, FinetuneConfig, TrainSection, validate_finetune_config
from paddle_wwm.sectioned_config import read_sections
from paddle_wwm.zoo import CONFIG_DIR

RECIPES_DIR = CONFIG_DIR.parent / "distill"  # configs/distill, wherever zoo found configs/
ATTENTION_LOSSES = ("mse", "kl")  # as distillation.losses.ATTENTION_LOSSES, without importing paddle


class DistillError(PaddleWwmError, ValueError):
    """A distillation recipe, teacher, student or layer map is unusable; the message names it."""


@dataclass
class DistillSection:
    teacher: str = ""  # a fine-tuned checkpoint directory with the task's head
    init_layers: list[int] | None = None  # keep only these encoder layers of the student's source (0-based)
    temperature: float = 8.0
    alpha: float = 0.5  # weight of the hard-label loss; 1 - alpha weighs the teacher's soft targets
    # Layer maps are [student, teacher] pairs. Hidden states: 0 is the embedding output, k the
    # output of layer k (1-based, as TextBrewer's matches count). Attention: layer k (1-based).
    hidden_weight: float = 0.0
    hidden_layer_map: list[list[int]] = field(default_factory=list)
    attention_weight: float = 0.0
    attention_layer_map: list[list[int]] = field(default_factory=list)
    attention_loss: str = "mse"  # one of ATTENTION_LOSSES

    def problems(self) -> list[tuple[str, str]]:
        checks = [
            (self.temperature > 0, "temperature", f"must be positive, got {self.temperature}"),
            (0 <= self.alpha <= 1, "alpha", f"must lie in [0, 1], got {self.alpha}"),
            (self.hidden_weight >= 0 and self.attention_weight >= 0, "hidden_weight/attention_weight",
             f"must be >= 0, got {self.hidden_weight}, {self.attention_weight}"),
            (self.attention_loss in ATTENTION_LOSSES, "attention_loss",
             f"must be one of {ATTENTION_LOSSES}, got {self.attention_loss!r}"),
        ]
        for key in ("hidden_layer_map", "attention_layer_map"):
            pairs = getattr(self, key)
            bad = [pair for pair in pairs if len(pair) != 2 or min(pair) < 0]
            checks.append((not bad, key, f"expected [student, teacher] pairs of layer numbers >= 0, got {bad}"))
        weights_need_maps = ((self.hidden_weight, "hidden_layer_map"), (self.attention_weight, "attention_layer_map"))
        for weight, key in weights_need_maps:
            checks.append((weight == 0 or getattr(self, key), key, "a positive weight needs a layer map"))
        return [(key, message) for ok, key, message in checks if not ok]


@dataclass
class DistillTrainSection(TrainSection):
    seeds: list[int] = field(default_factory=lambda: [1])  # one run, one seed


@dataclass
class DistillConfig(FinetuneConfig):
    train: DistillTrainSection = field(default_factory=DistillTrainSection)
    distill: DistillSection = field(default_factory=DistillSection)

    def output_dir(self) -> Path:
        if self.train.output_dir:
            return Path(self.train.output_dir)
        return Path("output") / "distill" / self.task / Path(self.model.name.rstrip("/")).name


_SECTIONS = {**SECTIONS, "train": DistillTrainSection, "distill": DistillSection}


def load_distill_config(task: str, path: str | os.PathLike | None = None,
                        overrides: typing.Sequence[str] = ()) -> DistillConfig:
    """The recipe ``path`` (a file, or a name in configs/distill/), then the overrides; the
    student is ``model.name`` (a zoo name, checkpoint directory or model config .json)."""
    from paddle_wwm.finetuning.readers import TASKS

    if task not in TASKS:
        raise DistillError(f"unknown task {task!r}; tasks are {sorted(TASKS)}")
    sections, source = read_sections(path, overrides, _SECTIONS, DistillError, RECIPES_DIR)
    defaults = DistillConfig()
    config = DistillConfig(task=task, source=source, **{name: sections.get(name, getattr(defaults, name))
                                                         for name in _SECTIONS})
    validate_finetune_config(config)
    if not config.model.name:
        raise DistillError(f"{source}: model.name: no student (pass --student NAME_OR_CONFIG)")
    if not config.distill.teacher:
        raise DistillError(f"{source}: distill.teacher: no teacher (pass --teacher DIR)")
    if len(config.train.seeds) != 1:
        raise DistillError(f"{source}: train.seeds: a distillation run takes one seed, got {config.train.seeds}")
    return config

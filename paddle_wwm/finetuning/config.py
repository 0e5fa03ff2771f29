"""Fine-tuning recipes: ``configs/finetune/TASK.yaml`` holds the seed's learning rate for the task
and Google's batch size, epochs and sequence length; ``section.key=value`` overrides them."""
from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

from paddle_wwm.errors import PaddleWwmError
from paddle_wwm.training.optimizer_config import OptimizerSection
from paddle_wwm.sectioned_config import read_sections
from paddle_wwm.zoo import CONFIG_DIR

RECIPES_DIR = CONFIG_DIR.parent / "finetune"  # configs/finetune, wherever zoo found configs/


class FinetuneConfigError(PaddleWwmError, ValueError):
    """A fine-tuning recipe or override is wrong; the message names the source and the key."""


@dataclass
class ModelSection:
    name: str = "chinese-roberta-wwm-ext"  # zoo name, alias or checkpoint directory
    dropout: float | None = None  # classifier and encoder dropout; None keeps the model's (0.1)


@dataclass
class DataSection:
    dir: str = ""  # the task's data directory (train / dev / test files under their usual names)
    max_seq_len: int = 128
    doc_stride: int = 128  # span tasks: the step between windows over a long context
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best_size: int = 20


@dataclass
class TrainSection:
    output_dir: str = ""  # default output/finetune/TASK/MODEL
    epochs: float = 3.0
    batch_size: int = 32
    eval_batch_size: int = 64
    seeds: list[int] = field(default_factory=lambda: list(range(1, 11)))  # the seed's 10 runs
    log_steps: int = 50
    save_model: bool = False  # write each seed's fine-tuned model to seed-N/model (our layout)


@dataclass
class FinetuneConfig:
    task: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optimizer: OptimizerSection = field(default_factory=lambda: OptimizerSection(
        learning_rate=2e-5, warmup_proportion=0.1, weight_decay=0.01, epsilon=1e-6))
    train: TrainSection = field(default_factory=TrainSection)
    source: str = "config"

    def output_dir(self) -> Path:
        if self.train.output_dir:
            return Path(self.train.output_dir)
        return Path("output") / "finetune" / self.task / Path(self.model.name.rstrip("/")).name


SECTIONS = {"model": ModelSection, "data": DataSection, "optimizer": OptimizerSection, "train": TrainSection}


def load_finetune_config(task: str, path: str | os.PathLike | None = None,
                         overrides: typing.Sequence[str] = ()) -> FinetuneConfig:
    """The task's shipped recipe (or ``path``), then the overrides; checked before any work."""
    from .readers import TASKS

    if task not in TASKS:
        raise FinetuneConfigError(f"unknown task {task!r}; tasks are {sorted(TASKS)}")
    if path is None and (RECIPES_DIR / f"{task}.yaml").is_file():
        path = RECIPES_DIR / f"{task}.yaml"
    sections, source = read_sections(path, overrides, SECTIONS, FinetuneConfigError, RECIPES_DIR)
    defaults = FinetuneConfig()
    config = FinetuneConfig(task=task, source=source, **{name: sections.get(name, getattr(defaults, name))
                                                          for name in SECTIONS})
    validate_finetune_config(config)
    return config


def validate_finetune_config(config: FinetuneConfig) -> None:
    """Raise FinetuneConfigError naming the first value out of range (the sections' types are
    already checked)."""
    src, d, o, t = config.source, config.data, config.optimizer, config.train

    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise FinetuneConfigError(f"{src}: {key}: {message}")

    need(bool(d.dir), "data.dir", "no data directory (pass --data DIR)")
    need(Path(d.dir).is_dir(), "data.dir", f"{d.dir} is not a directory")
    need(8 <= d.max_seq_len <= 512, "data.max_seq_len", f"must lie in [8, 512], got {d.max_seq_len}")
    need(d.doc_stride >= 1, "data.doc_stride", f"must be at least 1, got {d.doc_stride}")
    from .readers import TASKS

    if TASKS[config.task].kind == "span":
        need(1 <= d.max_query_length < d.max_seq_len - 3, "data.max_query_length",
             f"must lie in [1, max_seq_len - 3), got {d.max_query_length}")
    need(d.max_answer_length >= 1 and d.n_best_size >= 1, "data.max_answer_length/n_best_size", "must be at least 1")
    need(o.learning_rate > 0, "optimizer.learning_rate", f"must be positive, got {o.learning_rate}")
    need(0 <= o.warmup_proportion < 1, "optimizer.warmup_proportion", f"must lie in [0, 1), got {o.warmup_proportion}")
    need(t.epochs > 0, "train.epochs", f"must be positive, got {t.epochs}")
    need(t.batch_size >= 1 and t.eval_batch_size >= 1, "train.batch_size/eval_batch_size", "must be at least 1")
    need(len(t.seeds) >= 1 and len(set(t.seeds)) == len(t.seeds), "train.seeds", f"need distinct seeds, got {t.seeds}")
    need(config.model.dropout is None or 0 <= config.model.dropout < 1, "model.dropout",
         f"must lie in [0, 1), got {config.model.dropout}")

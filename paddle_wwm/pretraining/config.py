"""Pre-training recipes: a YAML file of four sections (read by :mod:`paddle_wwm.sectioned_config`),
overridden by ``section.key=value`` arguments, checked completely before any work starts."""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

from paddle_wwm.errors import PaddleWwmError
from paddle_wwm.sectioned_config import read_sections
from paddle_wwm.training.optimizer_config import OptimizerSection
from paddle_wwm.wwm.dataset import WWMConfig
from paddle_wwm.zoo import CONFIG_DIR

RECIPES_DIR = CONFIG_DIR.parent / "pretrain"  # configs/pretrain, wherever zoo found configs/
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TRAIN_ONLY = (None, "mlm_head")


class PretrainConfigError(PaddleWwmError, ValueError):
    """A recipe or override is wrong; the message names the source and the key."""


@dataclass
class ModelSection:
    name: str = "rbt3"  # zoo name, model config .json or checkpoint directory: the architecture
    init_from: str | None = None  # weights to start from (zoo name or directory); None: random init
    init_layers: int | None = None  # keep only the first N encoder layers of init_from (RBT3, RBT4, ...)
    overrides: dict = field(default_factory=dict)  # config fields to change, e.g. hidden_size (random init only)
    dropout: float | None = None  # hidden and attention dropout; None keeps the model config's
    recompute: bool = False  # recompute each encoder layer in the backward pass (memory for time)
    # "mlm_head": train the MLM head alone, everything else frozen (restore-mlm-head); None: all
    train_only: str | None = None


def _data_section() -> type:
    """The recipe's data section: ``dir`` (the output of `paddle-wwm prepare`), then the fields of
    :class:`WWMConfig` with their defaults, bar its seed (the recipe's is train.seed)."""
    hints = typing.get_type_hints(WWMConfig)
    fields = [("dir", str, field(default=""))]
    fields += [(f.name, hints[f.name], field(default=f.default)) for f in dataclasses.fields(WWMConfig)
               if f.name != "seed"]

    def wwm_config(self, seed: int) -> WWMConfig:
        """The packing and masking settings of this section, with ``seed``."""
        return WWMConfig(seed=seed, **{name: getattr(self, name) for name, _, _ in fields if name != "dir"})

    return dataclasses.make_dataclass("DataSection", fields, namespace={"wwm_config": wwm_config,
                                                                        "__module__": __name__})


DataSection = _data_section()


@dataclass
class TrainSection:
    output_dir: str = "output/pretrain"
    max_steps: int = 1000
    global_batch_size: int = 256  # sequences per optimizer step, over all ranks and accumulation
    micro_batch_size: int = 32  # sequences per forward pass on one rank
    precision: str = "auto"  # auto: bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU
    seed: int = 12345
    save_steps: int = 1000
    keep_checkpoints: int = 3
    log_steps: int = 10
    stall_timeout: float = 600.0  # seconds without step progress on a rank before a supervised job aborts


@dataclass
class PretrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    train: TrainSection = field(default_factory=TrainSection)
    source: str = "config"  # where it was read from, for error messages

    def to_dict(self) -> dict:
        return {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}

    def accumulation_steps(self, world_size: int) -> int:
        """Micro-batches per rank and step; the global batch must divide evenly."""
        per_step = self.train.micro_batch_size * world_size
        if self.train.global_batch_size % per_step:
            raise PretrainConfigError(
                f"{self.source}: train.global_batch_size {self.train.global_batch_size} is not a multiple of "
                f"train.micro_batch_size {self.train.micro_batch_size} x {world_size} ranks")
        return self.train.global_batch_size // per_step


_SECTIONS = {"model": ModelSection, "data": DataSection, "optimizer": OptimizerSection, "train": TrainSection}


# -- reading ---------------------------------------------------------------------------------------
def load_config(path: str | os.PathLike | None = None, overrides: typing.Sequence[str] = ()) -> PretrainConfig:
    """Read a recipe (a YAML file, or the name of one in configs/pretrain) and apply
    ``section.key=value`` overrides (values parsed as YAML scalars)."""
    sections, source = read_sections(path, overrides, _SECTIONS, PretrainConfigError, RECIPES_DIR)
    config = PretrainConfig(source=source, **sections)
    validate(config)
    return config


# -- checking ------------------------------------------------------------------------------------
def validate(config: PretrainConfig) -> None:
    """Every value in range, before any work starts; paths are checked to exist."""
    src = config.source
    m, d, o, t = config.model, config.data, config.optimizer, config.train

    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise PretrainConfigError(f"{src}: {key}: {message}")

    need(bool(d.dir), "data.dir", "no data directory: set it to the output of `paddle-wwm prepare`")
    need(Path(d.dir, "manifest.json").is_file(), "data.dir",
         f"{d.dir} is not a prepared directory (no manifest.json): run `paddle-wwm prepare --out {d.dir}` first")
    need(d.max_seq_len >= 8, "data.max_seq_len", f"must be at least 8, got {d.max_seq_len}")
    need(d.masking in ("dynamic", "static"), "data.masking", f"must be dynamic or static, got {d.masking!r}")
    need(d.dupe_factor >= 1, "data.dupe_factor", f"must be at least 1, got {d.dupe_factor}")
    need(0 <= d.short_seq_prob <= 1, "data.short_seq_prob", f"must lie in [0, 1], got {d.short_seq_prob}")
    need(0 < d.mask_prob < 1, "data.mask_prob", f"must lie in (0, 1), got {d.mask_prob}")
    need(d.max_predictions is None or d.max_predictions >= 1, "data.max_predictions",
         f"must be at least 1, got {d.max_predictions}")
    for key, message in o.problems():
        need(False, f"optimizer.{key}", message)
    need(t.max_steps >= 1, "train.max_steps", f"must be at least 1, got {t.max_steps}")
    need(t.micro_batch_size >= 1, "train.micro_batch_size", f"must be at least 1, got {t.micro_batch_size}")
    need(t.global_batch_size >= t.micro_batch_size, "train.global_batch_size",
         f"{t.global_batch_size} is smaller than train.micro_batch_size {t.micro_batch_size}")
    need(t.precision in PRECISIONS, "train.precision", f"must be one of {PRECISIONS}, got {t.precision!r}")
    need(t.save_steps >= 1, "train.save_steps", f"must be at least 1, got {t.save_steps}")
    need(t.keep_checkpoints >= 1, "train.keep_checkpoints", f"must be at least 1, got {t.keep_checkpoints}")
    need(t.log_steps >= 1, "train.log_steps", f"must be at least 1, got {t.log_steps}")
    need(t.stall_timeout > 0, "train.stall_timeout", f"must be positive, got {t.stall_timeout}")
    need(bool(t.output_dir), "train.output_dir", "must be set")
    need(m.init_layers is None or m.init_from is not None, "model.init_layers", "needs model.init_from")
    need(m.init_layers is None or m.init_layers >= 1, "model.init_layers", f"must be at least 1, got {m.init_layers}")
    need(not (m.overrides and m.init_from), "model.overrides", "only for random init: the weights of "
         "model.init_from fix the architecture (use model.init_layers to keep fewer layers)")
    need(m.train_only in TRAIN_ONLY, "model.train_only", f"must be one of {TRAIN_ONLY}, got {m.train_only!r}")
    need(m.train_only is None or m.init_from is not None, "model.train_only",
         "needs model.init_from (the frozen weights to train a head on)")
    need(m.dropout is None or 0 <= m.dropout < 1, "model.dropout", f"must lie in [0, 1), got {m.dropout}")

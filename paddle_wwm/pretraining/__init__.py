"""Whole-word-masking pre-training on Paddle (one process, or fleet data parallelism).

``paddle-wwm pretrain --config configs/pretrain/NAME.yaml [section.key=value ...] [--resume]``;
in Python, ``pretrain(load_config(path, overrides))``. Recipes: ``config.py``; the loop:
``trainer.py``; which sequences each rank reads: ``batches.py``; checkpoints: ``checkpoint.py``.
"""
from .config import PretrainConfig, PretrainConfigError, load_config
from .trainer import pretrain

__all__ = ["PretrainConfig", "PretrainConfigError", "load_config", "pretrain"]

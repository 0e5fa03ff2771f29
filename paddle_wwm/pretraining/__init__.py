"""Whole-word-masking pre-training on Paddle (one process, or fleet data parallelism).

``paddle-wwm pretrain --config configs/pretrain/NAME.yaml [section.key=value ...] [--resume]``;
in Python, ``pretrain(load_config(path, overrides))``. Recipes: ``config.py``; the loop:
``trainer.py`` (on the shared loop of :mod:`paddle_wwm.training`); checkpoints: ``checkpoint.py``.
"""
from .config import PretrainConfig, PretrainConfigError, load_config
from .trainer import pretrain

__all__ = ["PretrainConfig", "PretrainConfigError", "load_config", "pretrain"]

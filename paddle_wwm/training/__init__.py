"""The one training package of pre-training, fine-tuning and distillation.

The step loop (``loop.py``: micro-batch accumulation, backward, clipped update, schedule, and
``fit`` for epochs over a fine-tuning set), which examples each step reads (``batches.py``), and
the optimizer with its learning-rate schedule (``optimizer.py``) configured by the recipes'
validated ``optimizer`` section (``optimizer_config.py``).

Names are imported on first use, so that the recipes can read ``OptimizerSection`` without
importing paddle.
"""
from __future__ import annotations

import importlib

_HOMES = {
    "Update": "loop", "fit": "loop", "optimizer_steps": "loop", "progress_bar": "loop",
    "GlobalBatches": "batches", "index_batches": "batches", "pad_rows": "batches",
    "build_optimizer": "optimizer", "no_decay_names": "optimizer", "warmup_then_linear_decay": "optimizer",
    "OPTIMIZERS": "optimizer_config", "OptimizerSection": "optimizer_config",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

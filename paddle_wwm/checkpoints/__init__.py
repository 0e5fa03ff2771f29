"""Checkpoints: reading every released layout into our canonical state, writing ours and the others'.

Reading and converting need numpy only; the names that work on a live Paddle model
(`canonical_state`, `load_state`, `save_model`, `truncate_layers`) load paddle on first use."""
from .layouts import LAYOUT_NAMES, Checkpoint, convert, read_checkpoint, write_checkpoint
from .tensor_files import CheckpointError

_WITH_PADDLE = ("canonical_state", "load_state", "save_model", "truncate_layers")

__all__ = ["LAYOUT_NAMES", "Checkpoint", "CheckpointError", "convert", "read_checkpoint", "write_checkpoint",
           *_WITH_PADDLE]


def __getattr__(name):
    if name not in _WITH_PADDLE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import model_state

    value = getattr(model_state, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted({*globals(), *_WITH_PADDLE})

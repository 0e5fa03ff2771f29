"""Between a live Paddle model and our canonical state dict (`bert.`-prefixed numpy arrays)."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import paddle

from .layouts import Checkpoint, CheckpointError, write_checkpoint

logger = logging.getLogger(__name__)
_warned_missing_mlm: set[str] = set()


def _encoder_only(model) -> bool:
    return not hasattr(model, "bert")


def canonical_names(model) -> dict:
    """our canonical name -> the model's own parameter name."""
    prefix = "bert." if _encoder_only(model) else ""
    return {prefix + name: name for name in model.state_dict()}


def canonical_state(model) -> dict:
    own = model.state_dict()
    out = {}
    for canonical, name in canonical_names(model).items():
        tensor = own[name]
        if tensor.dtype in (paddle.bfloat16, paddle.float16):
            tensor = tensor.astype("float32")
        out[canonical] = tensor.numpy()
    return out


def load_state(model, state: dict, source: str) -> None:
    """Copy `state` into `model`, checking every name and shape.

    Missing encoder weights or any shape mismatch is an error listing them all; task-head
    weights the checkpoint lacks keep their fresh initialisation (a missing MLM head is
    warned about once per source, since the seed released encoders only); tensors the model
    has no use for (a pre-training head when fine-tuning) are skipped."""
    names = canonical_names(model)
    own = model.state_dict()
    mismatched, missing = [], []
    for canonical, name in names.items():
        if canonical not in state:
            missing.append(canonical)
            continue
        expected = tuple(own[name].shape)
        if tuple(state[canonical].shape) != expected:
            mismatched.append(f"{canonical}: checkpoint {tuple(state[canonical].shape)}, model {expected}")
    if mismatched:
        hint = ""
        if any(m.startswith("classifier.") for m in mismatched):
            hint = (" (the checkpoint's classifier was trained for a different num_classes: "
                    "pass the matching num_classes, or load the encoder into a fresh head)")
        raise CheckpointError(f"{source}: shapes do not match the model{hint}: " + "; ".join(mismatched))
    missing_encoder = [m for m in missing if m.startswith("bert.")]
    if missing_encoder:
        raise CheckpointError(f"{source}: {len(missing_encoder)} encoder weights missing: "
                              + ", ".join(missing_encoder[:20]))
    if any(m.startswith("mlm.") for m in missing) and source not in _warned_missing_mlm:
        _warned_missing_mlm.add(source)
        warnings.warn(f"{source} has no MLM head (the released Chinese BERT-wwm weights carry none): "
                      "the head is freshly initialised and must be trained before its predictions mean "
                      "anything", stacklevel=3)
    if missing:
        logger.info("%s: initialised fresh: %s", source, ", ".join(missing))
    unused = sorted(set(state) - set(names))
    if unused:
        logger.info("%s: not used by %s: %s", source, type(model).__name__, ", ".join(unused))
    for canonical, name in names.items():
        if canonical in state:
            target = own[name]
            value = paddle.to_tensor(np.ascontiguousarray(state[canonical]))
            target.set_value(value.astype(target.dtype) if value.dtype != target.dtype else value)


def _layer_index(name: str) -> int | None:
    if name.startswith("bert.layers."):
        return int(name.split(".")[2])
    return None


def truncate_layers(state: dict, num_layers: int) -> dict:
    """Keep the first `num_layers` encoder layers (RBT3 = the first 3 layers of RoBERTa-wwm-ext)."""
    return {name: value for name, value in state.items()
            if _layer_index(name) is None or _layer_index(name) < num_layers}


def save_model(model, out_dir, layout: str = "paddle_wwm", overwrite: bool = False, vocab_file=None):
    checkpoint = Checkpoint(model.config, canonical_state(model), source=None, layout="paddle_wwm",
                            vocab_file=vocab_file, architecture=type(model).__name__)
    return write_checkpoint(checkpoint, out_dir, layout=layout, overwrite=overwrite)

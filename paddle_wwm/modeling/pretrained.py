"""from_pretrained / save_pretrained for every model class.

modeling/ sits below the checkpoint readers and the model store, so it cannot import them: the
package facade (``paddle_wwm/__init__.py``, which runs before any submodule) installs the two
functions that do the file work with :func:`use_checkpoint_io`, and these methods call them.
"""
from __future__ import annotations

from typing import Callable

_checkpoint_io: dict[str, Callable] = {}


def use_checkpoint_io(load: Callable, save: Callable) -> None:
    """``load(cls, name_or_path, num_hidden_layers=None, **model_kwargs)`` -> model;
    ``save(model, out_dir, layout=, overwrite=, vocab_file=)`` -> the directory written."""
    _checkpoint_io.update(load=load, save=save)


class PretrainedMixin:
    @classmethod
    def from_pretrained(cls, name_or_path, *, num_hidden_layers: int | None = None, **model_kwargs):
        """Build `cls` from a zoo name, an alias (e.g. "hfl/rbt3") or a checkpoint directory in any
        supported layout (ours, Hugging Face, PaddleNLP, TensorFlow). `num_hidden_layers` keeps
        only the first N encoder layers (how RBT3 was initialised from RoBERTa-wwm-ext)."""
        return _checkpoint_io["load"](cls, name_or_path, num_hidden_layers=num_hidden_layers, **model_kwargs)

    def save_pretrained(self, out_dir, layout: str = "paddle_wwm", overwrite: bool = False, vocab_file=None):
        """Write the model to `out_dir` in our layout (safetensors), or "huggingface" / "paddlenlp"."""
        return _checkpoint_io["save"](self, out_dir, layout=layout, overwrite=overwrite, vocab_file=vocab_file)

    def num_parameters(self) -> int:
        return sum(int(p.size) for p in self.parameters())

"""from_pretrained / save_pretrained for every model class. The file work lives in
`paddle_wwm.checkpoints`; this mixin only forwards to it, so that modeling/ stays free of I/O."""
from __future__ import annotations


class PretrainedMixin:
    @classmethod
    def from_pretrained(cls, name_or_path, *, num_hidden_layers: int | None = None, **model_kwargs):
        """Build `cls` from a zoo name, an alias (e.g. "hfl/rbt3") or a checkpoint directory in any
        supported layout (ours, Hugging Face, PaddleNLP, TensorFlow). `num_hidden_layers` keeps
        only the first N encoder layers (how RBT3 was initialised from RoBERTa-wwm-ext)."""
        from paddle_wwm.checkpoints.loading import load_pretrained

        return load_pretrained(cls, name_or_path, num_hidden_layers=num_hidden_layers, **model_kwargs)

    def save_pretrained(self, out_dir, layout: str = "paddle_wwm", overwrite: bool = False, vocab_file=None):
        """Write the model to `out_dir` in our layout (safetensors), or "huggingface" / "paddlenlp"."""
        from paddle_wwm.checkpoints.model_state import save_model

        return save_model(self, out_dir, layout=layout, overwrite=overwrite, vocab_file=vocab_file)

    def num_parameters(self) -> int:
        return sum(int(p.size) for p in self.parameters())

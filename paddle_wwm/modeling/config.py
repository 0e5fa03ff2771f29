"""BertConfig: one set of hyper-parameters, read from and written to the config files of
Hugging Face (`config.json`), Google/TensorFlow (`bert_config.json`) and PaddleNLP
(`config.json` of PaddleNLP 3, or `model_config.json` with `init_args` of PaddleNLP 2)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paddle_wwm.errors import PaddleWwmError

SUPPORTED_ACTIVATIONS = ("gelu", "relu", "tanh", "gelu_new", "gelu_fast")

# Keys other tools write that carry no information for the model; accepted and dropped.
_IGNORED_KEYS = {
    "architectures", "model_type", "transformers_version", "paddlenlp_version", "torch_dtype",
    "dtype", "directionality", "pooler_fc_size", "pooler_num_attention_heads", "pooler_num_fc_layers",
    "pooler_size_per_head", "pooler_type", "position_embedding_type", "use_cache", "classifier_dropout",
    "output_past", "gradient_checkpointing", "fuse", "layer_norm_eps_", "init_class", "_name_or_path",
    "is_decoder", "add_cross_attention", "bos_token_id", "eos_token_id", "num_labels", "id2label",
    "label2id", "problem_type", "tokenizer_class", "chunk_size_feed_forward", "return_dict",
    "tensor_parallel_degree", "tensor_parallel_rank", "tensor_parallel_output", "dtype_",
}

# PaddleNLP 2 and a few exporters spell some keys differently.
_KEY_ALIASES = {
    "hidden_dropout": "hidden_dropout_prob",
    "attention_dropout": "attention_probs_dropout_prob",
    "layer_norm_epsilon": "layer_norm_eps",
    "n_layer": "num_hidden_layers",
    "n_head": "num_attention_heads",
}


class ConfigError(PaddleWwmError, ValueError):
    """A config file or value that cannot describe a BERT model."""


@dataclass
class BertConfig:
    vocab_size: int = 21128
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    # Unknown keys found in a file are kept here so that writing the file back loses nothing.
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.validate()

    def validate(self, source: str = "config") -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{source}: {name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"{source}: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ConfigError(f"{source}: hidden_act {self.hidden_act!r} is not one of {SUPPORTED_ACTIVATIONS}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{source}: {name} must be in [0, 1), got {value!r}")

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "BertConfig":
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(raw).__name__}")
        if "init_args" in raw:  # PaddleNLP 2 model_config.json
            args = raw["init_args"]
            raw = args[0] if isinstance(args, list) and args else args
            if isinstance(raw, dict) and "init_args" in raw:  # task models nest the encoder's args
                raw = raw["init_args"][0]
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            key = _KEY_ALIASES.get(key, key)
            if key in known:
                kwargs[key] = value
            elif key not in _IGNORED_KEYS:
                extra[key] = value
        if "hidden_act" in kwargs and kwargs["hidden_act"] == "gelu_python":
            kwargs["hidden_act"] = "gelu"
        try:
            config = cls(**kwargs)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
        config.extra = extra
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> "BertConfig":
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{path}: not valid JSON ({error})") from None
        return cls.from_dict(raw, source=str(path))

    # ------------------------------------------------------------------ writing
    def to_dict(self) -> dict:
        """Our own config.json: exactly the Hugging Face BERT keys, so HF reads it as is."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return out

    def to_hf_dict(self, architecture: str = "BertForMaskedLM") -> dict:
        return {"architectures": [architecture], "model_type": "bert", **self.to_dict(),
                "position_embedding_type": "absolute"}

    def to_paddlenlp_dict(self, architecture: str = "BertModel") -> dict:
        return {"architectures": [architecture], "model_type": "bert", **self.to_dict()}

    def to_tf_dict(self) -> dict:
        keys = ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
                "initializer_range", "intermediate_size", "max_position_embeddings",
                "num_attention_heads", "num_hidden_layers", "type_vocab_size", "vocab_size")
        return {key: getattr(self, key) for key in keys}

    def replace(self, **changes) -> "BertConfig":
        config = dataclasses.replace(self, **changes)
        config.extra = dict(self.extra)
        return config

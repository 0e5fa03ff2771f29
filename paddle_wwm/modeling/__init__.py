"""The BERT encoder and its task heads. The config is imported eagerly (it is paddle-free); the
model classes, which import paddle, load on first use."""
from .config import BertConfig, ConfigError

_HEADS = ("BertForPretraining", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification",
          "BertForQuestionAnswering", "BertForTextMatching")
MODEL_NAMES = ("BertModel", *_HEADS)

__all__ = ["BertConfig", "ConfigError", "MODEL_CLASSES", *MODEL_NAMES]


def __getattr__(name):
    if name == "BertModel":
        from .bert import BertModel as value
    elif name in _HEADS:
        from . import heads
        value = getattr(heads, name)
    elif name == "MODEL_CLASSES":
        value = {model: __getattr__(model) for model in MODEL_NAMES}
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted({*globals(), "MODEL_CLASSES", *MODEL_NAMES})

"""paddle-wwm: the PaddlePaddle model zoo for the Chinese BERT whole-word-masking family.

Importing the package imports no paddle and changes no process state: the model classes and the
tokenizer load on first use, and the CPU settings of :mod:`paddle_wwm.runtime` are applied when a
model is built.
"""
from . import runtime  # noqa: F401  paddle-free; imported first to see the user's OMP_NUM_THREADS

__version__ = "0.1.0"

_MODELS = ("BertConfig", "BertModel", "BertForPretraining", "BertForMaskedLM", "BertForSequenceClassification",
           "BertForTokenClassification", "BertForQuestionAnswering", "BertForTextMatching")

__all__ = [*_MODELS, "__version__"]


def __getattr__(name):
    if name in _MODELS:
        from . import modeling
        value = getattr(modeling, name)
    elif name == "BertTokenizer":
        from .tokenization import BertTokenizer as value
    else:
        raise AttributeError(f"module 'paddle_wwm' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted({*globals(), *_MODELS, "BertTokenizer"})


# -- from_pretrained / save_pretrained (paddle-free): modeling/ sits below the model store and the
# checkpoint writers, so this top layer hands it the functions that do the file work.
def _load_pretrained(cls, name_or_path, **kwargs):
    from .store import load_pretrained
    return load_pretrained(cls, name_or_path, **kwargs)


def _save_pretrained(model, out_dir, **kwargs):
    from .checkpoints.model_state import save_model
    return save_model(model, out_dir, **kwargs)


from .modeling import pretrained as _pretrained  # noqa: E402

_pretrained.use_checkpoint_io(load=_load_pretrained, save=_save_pretrained)

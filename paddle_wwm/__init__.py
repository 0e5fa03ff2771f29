"""paddle-wwm: the PaddlePaddle model zoo for the Chinese BERT whole-word-masking family."""
from . import runtime

# Paddle's CPU defaults cost 2-5x in speed (one thread; MKL's SSE2 path on AMD CPUs; a page fault
# per re-allocated activation): see paddle_wwm/runtime.py and benchmarks/CPU_NOTES.md. Applied at
# import because MKL reads its CPU-type setting at its first call. PADDLE_WWM_CONFIGURE_CPU=0 opts out.
runtime.maybe_configure_cpu()

from .modeling import (BertConfig, BertForMaskedLM, BertForPretraining, BertForQuestionAnswering,
                       BertForSequenceClassification, BertForTextMatching, BertForTokenClassification, BertModel)

__version__ = "0.1.0"

__all__ = ["BertConfig", "BertModel", "BertForPretraining", "BertForMaskedLM", "BertForSequenceClassification",
           "BertForTokenClassification", "BertForQuestionAnswering", "BertForTextMatching", "__version__"]


def __getattr__(name):
    # The tokenizer imports `tokenizers` lazily so that `import paddle_wwm` stays light.
    if name == "BertTokenizer":
        from .tokenization import BertTokenizer
        return BertTokenizer
    raise AttributeError(f"module 'paddle_wwm' has no attribute {name!r}")


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

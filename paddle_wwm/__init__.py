"""paddle-wwm: the PaddlePaddle model zoo for the Chinese BERT whole-word-masking family."""
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

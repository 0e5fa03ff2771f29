from .bert import BertModel
from .config import BertConfig, ConfigError
from .heads import (BertForMaskedLM, BertForPretraining, BertForQuestionAnswering, BertForSequenceClassification,
                    BertForTextMatching, BertForTokenClassification)

MODEL_CLASSES = {cls.__name__: cls for cls in (
    BertModel, BertForPretraining, BertForMaskedLM, BertForSequenceClassification,
    BertForTokenClassification, BertForQuestionAnswering, BertForTextMatching)}

__all__ = ["BertConfig", "ConfigError", "MODEL_CLASSES", *MODEL_CLASSES]

"""A checkpoint already read -> a model of the asked class with its weights (the file and name
work of `from_pretrained` is the store's: :func:`paddle_wwm.store.load_pretrained`)."""
from __future__ import annotations

from .layouts import Checkpoint
from .model_state import load_state, truncate_layers
from .tensor_files import CheckpointError

_NUM_CLASSES_HEADS = ("BertForSequenceClassification", "BertForTokenClassification", "BertForTextMatching")


def load_checkpoint_into(cls, checkpoint: Checkpoint, num_hidden_layers: int | None = None, **model_kwargs):
    """Build ``cls`` from ``checkpoint``; ``num_hidden_layers`` keeps the first N encoder layers;
    the head sizes (num_classes, CJRC's answer_types) default to the checkpoint's."""
    config, state = checkpoint.config, checkpoint.state
    if num_hidden_layers is not None:
        if not 0 < num_hidden_layers <= config.num_hidden_layers:
            raise CheckpointError(f"{checkpoint.source}: cannot take {num_hidden_layers} layers from a "
                                  f"{config.num_hidden_layers}-layer checkpoint")
        config = config.replace(num_hidden_layers=num_hidden_layers)
        state = truncate_layers(state, num_hidden_layers)
    if cls.__name__ in _NUM_CLASSES_HEADS and "num_classes" not in model_kwargs and "classifier.bias" in state:
        model_kwargs["num_classes"] = int(state["classifier.bias"].shape[0])
    if cls.__name__ == "BertForQuestionAnswering" and "answer_types" not in model_kwargs and "answer_type.bias" in state:
        model_kwargs["answer_types"] = int(state["answer_type.bias"].shape[0])  # CJRC's type head
    model = cls(config, **model_kwargs)
    load_state(model, state, str(checkpoint.source))
    model.eval()
    model.vocab_file = checkpoint.vocab_file
    return model

"""The MLM head of a checkpoint: whether it has a trained one, loading a model for fill-mask, and
masked-token accuracy over prepared (held-out) text.

Whether a head is trained: its tensors (``mlm.*``) must be in the checkpoint, and not at the
values every BERT implementation initialises them to (output bias 0, LayerNorm scale 1 and shift
0). Hugging Face's conversions of the released weights carry ``cls.predictions.*`` tensors that
were never trained (saved from a freshly built model), so presence alone proves nothing; one
optimizer step already moves all three away from their initial values.
"""
from __future__ import annotations

import numpy as np

from paddle_wwm.errors import PaddleWwmError

INITIAL_HEAD_VALUES = {"mlm.bias": 0.0, "mlm.transform_norm.weight": 1.0, "mlm.transform_norm.bias": 0.0}


class MissingHeadError(PaddleWwmError, ValueError):
    """fill-mask on a checkpoint without a trained MLM head."""


class HeadAlreadyTrainedError(PaddleWwmError, ValueError):
    """restore-mlm-head on a checkpoint whose head is already trained (without --overwrite)."""


def has_trained_head(state: dict) -> bool:
    """True when ``state`` (canonical names) holds an MLM head that has been trained."""
    if not all(name in state for name in INITIAL_HEAD_VALUES):
        return False
    return any(np.any(np.asarray(state[name]) != value) for name, value in INITIAL_HEAD_VALUES.items())


def described(name, source) -> str:
    """A model as the user named it, with where it was found when that differs."""
    return str(name) if str(name) == str(source) else f"{name} ({source})"


def require_trained_head(checkpoint, name) -> None:
    if not has_trained_head(checkpoint.state):
        what = "an untrained MLM head (its initial values)" if "mlm.bias" in checkpoint.state else "no MLM head"
        raise MissingHeadError(
            f"{described(name, checkpoint.source)} has {what}, so fill-mask would give noise (the released Chinese "
            f"BERT-wwm weights carry none); restore one first: paddle-wwm restore-mlm-head {name} "
            "--corpus YOUR_TEXT --out DIR")


def load_masked_lm(name_or_path):
    """(BertForMaskedLM, BertTokenizer) of a zoo name, alias or directory with a trained head."""
    from paddle_wwm import store
    from paddle_wwm.checkpoints.layouts import read_checkpoint
    from paddle_wwm.modeling import BertForMaskedLM
    from paddle_wwm.tokenization import BertTokenizer

    checkpoint = read_checkpoint(store.resolve(name_or_path))
    require_trained_head(checkpoint, name_or_path)
    model = BertForMaskedLM.from_pretrained(checkpoint)
    return model, BertTokenizer(checkpoint.vocab_file)


def masked_token_accuracy(model, data_dir, max_seq_len: int = 128, batch_size: int = 64, seed: int = 2024,
                          max_sequences: int | None = None) -> dict:
    """Accuracy of the MLM head at the masked positions of a prepared directory: the masks of
    pre-training (whole words, 15%, 80/10/10), fixed by ``seed`` so that every model sees the
    same ones. Returns {"accuracy", "masked_tokens", "sequences"}."""
    import paddle

    from paddle_wwm.tokenization import BertTokenizer
    from paddle_wwm.wwm.dataset import WWMCollator, WWMConfig, WWMDataset
    from paddle_wwm.wwm.masking import IGNORE_INDEX

    config = WWMConfig(max_seq_len=max_seq_len, nsp=False, seed=seed)
    dataset = WWMDataset(data_dir, config)
    collator = WWMCollator(config, BertTokenizer().vocab, return_tensors="pd")
    count = len(dataset) if max_sequences is None else min(len(dataset), max_sequences)
    correct = total = 0
    model.eval()
    with paddle.no_grad():
        for begin in range(0, count, batch_size):
            batch = collator([dataset[i] for i in range(begin, min(begin + batch_size, count))])
            logits = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                           masked_positions=batch["masked_positions"])
            if isinstance(logits, (tuple, list)):
                logits = logits[0]
            labels = batch["masked_labels"].numpy()
            real = labels != IGNORE_INDEX
            correct += int(((logits.argmax(-1).numpy() == labels) & real).sum())
            total += int(real.sum())
    return {"accuracy": correct / max(total, 1), "masked_tokens": total, "sequences": count}

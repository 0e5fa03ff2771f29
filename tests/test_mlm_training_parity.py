"""Pre-training steps against transformers' BertForMaskedLM (the reference): the same random
weights (ours converted to the Hugging Face layout), the same whole-word-masked batches, AdamW with
the recipe's settings, dropout off. The MLM head, the tied decoder, the loss over masked slots, the
weight decay split, clipping and the schedule must all agree, or the loss curves part within a few
steps (benchmarks/mlm_vs_transformers.py is the longer run, docs/pretraining_value.md its table)."""
import sys
from pathlib import Path

import numpy as np

from conftest import TINY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_our_mlm_steps_track_transformers_bert_for_masked_lm(tmp_path):
    from mlm_vs_transformers import side_by_side

    from paddle_wwm.modeling import BertConfig
    from paddle_wwm.tokenization import BertTokenizer
    from paddle_wwm.wwm.dataset import WWMCollator, WWMConfig

    tokenizer = BertTokenizer()
    rng = np.random.default_rng(0)
    config = WWMConfig(max_seq_len=64, nsp=False)
    collator = WWMCollator(config, tokenizer.vocab)
    batches = []
    for step in range(8):
        items = []
        for i in range(8):
            length = int(rng.integers(10, 40))
            ids = np.concatenate([[101], rng.integers(670, 700, size=length - 2), [102]]).astype(np.int64)
            starts = rng.random(length) < 0.6
            items.append({"input_ids": ids, "token_type_ids": np.zeros(length, dtype=np.int64),
                          "word_starts": starts, "instance_id": step * 8 + i, "mask_round": 0})
        batches.append(collator(items))
    model_config = BertConfig(**{**TINY, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    curves = side_by_side(batches, model_config, learning_rate=1e-2, warmup_steps=2, work=tmp_path)
    ours, theirs = np.array(curves["ours"]), np.array(curves["transformers"])
    assert ours[-1] < ours[0] - 1.0  # 30 distinct tokens: each step learns, the weights move
    np.testing.assert_allclose(ours, theirs, atol=2e-4)

"""Google-format TensorFlow BERT checkpoints (the seed's TF releases).

The fixture tests/fixtures/tf_bert_tiny was written by TensorFlow itself (tools/make_tf_fixture.py)
with Google's variable names. Values are checked against what TF's own reader returns, and the
converted model's outputs against transformers' independent converter (load_tf_weights_in_bert)."""
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
import transformers

from conftest import padded_batch, require_reference
from paddle_wwm import BertForPretraining
from paddle_wwm.checkpoints import CheckpointError, convert, read_checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "tf_bert_tiny"
tf = require_reference("tensorflow")


def small_batch():
    input_ids, token_type_ids, attention_mask = padded_batch(seed=11)
    return np.where(attention_mask == 1, input_ids % 128, 0), token_type_ids, attention_mask


def test_values_land_where_google_put_them():
    reader = tf.train.load_checkpoint(str(FIXTURE / "bert_model.ckpt"))
    state = read_checkpoint(FIXTURE).state
    q, k, v = (reader.get_tensor(f"bert/encoder/layer_1/attention/self/{n}/kernel") for n in ("query", "key", "value"))
    assert np.array_equal(state["bert.layers.1.attention.qkv.weight"], np.concatenate([q, k, v], axis=1))
    assert np.array_equal(state["bert.layers.0.intermediate.weight"],
                          reader.get_tensor("bert/encoder/layer_0/intermediate/dense/kernel"))
    assert np.array_equal(state["bert.embeddings.layer_norm.weight"], reader.get_tensor("bert/embeddings/LayerNorm/gamma"))
    assert np.array_equal(state["nsp.weight"], reader.get_tensor("cls/seq_relationship/output_weights").T)
    assert np.array_equal(state["mlm.bias"], reader.get_tensor("cls/predictions/output_bias"))
    assert not any("adam" in name or "global_step" in name for name in state)


def test_outputs_match_transformers_tf_converter():
    config = transformers.BertConfig.from_json_file(str(FIXTURE / "bert_config.json"))
    reference = transformers.BertForPreTraining(config)
    transformers.load_tf_weights_in_bert(reference, config, str(FIXTURE / "bert_model.ckpt"))
    reference.eval()
    ours = BertForPretraining.from_pretrained(FIXTURE)
    batch = small_batch()
    with paddle.no_grad():
        mlm, nsp = ours(*(paddle.to_tensor(a) for a in batch[:1]), token_type_ids=paddle.to_tensor(batch[1]),
                        attention_mask=paddle.to_tensor(batch[2]))
    with torch.no_grad():
        out = reference(input_ids=torch.from_numpy(batch[0]), token_type_ids=torch.from_numpy(batch[1]),
                        attention_mask=torch.from_numpy(batch[2]))
    assert np.abs(mlm.numpy() - out.prediction_logits.numpy()).max() <= 1e-5
    assert np.abs(nsp.numpy() - out.seq_relationship_logits.numpy()).max() <= 1e-5


@pytest.mark.parametrize("path", ["dir", "index", "prefix"])
def test_any_path_of_the_checkpoint_is_accepted(path):
    target = {"dir": FIXTURE, "index": FIXTURE / "bert_model.ckpt.index", "prefix": FIXTURE / "bert_model.ckpt"}[path]
    assert read_checkpoint(target).layout == "tensorflow"


def test_convert_to_our_layout_keeps_vocab_and_config(tmp_path):
    convert(FIXTURE, tmp_path / "ours")
    assert (tmp_path / "ours" / "vocab.txt").read_text("utf-8") == (FIXTURE / "vocab.txt").read_text("utf-8")
    assert read_checkpoint(tmp_path / "ours").config.vocab_size == 128


def test_without_tensorflow_the_error_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` raise ImportError
    with pytest.raises(CheckpointError, match="needs tensorflow"):
        read_checkpoint(FIXTURE)

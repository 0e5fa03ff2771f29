"""Google-format TensorFlow BERT checkpoints (the seed's TF releases), read with numpy alone.

The fixtures tests/fixtures/tf_bert_tiny{,_adam} were written by TensorFlow itself
(tools/make_tf_fixture.py) with Google's variable names. Values are checked against what TF's own
reader returns (ours running where tensorflow cannot be imported), and the converted model's
outputs against transformers' independent converter (load_tf_weights_in_bert)."""
import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
import transformers

from conftest import padded_batch, require_reference
from hidden_imports import run_without_torch_and_tensorflow
from paddle_wwm import BertForPretraining
from paddle_wwm.checkpoints import CheckpointError, convert, read_checkpoint
from paddle_wwm.checkpoints.tf_format import _varint

FIXTURE = Path(__file__).parent / "fixtures" / "tf_bert_tiny"
ADAM_FIXTURE = Path(__file__).parent / "fixtures" / "tf_bert_tiny_adam"
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


def assert_outputs_match_transformers(fixture, ours):
    """`ours` against transformers' BertForPreTraining loaded by its own TF converter from `fixture`."""
    config = transformers.BertConfig.from_json_file(str(fixture / "bert_config.json"))
    reference = transformers.BertForPreTraining(config)
    transformers.load_tf_weights_in_bert(reference, config, str(fixture / "bert_model.ckpt"))
    reference.eval()
    batch = small_batch()
    with paddle.no_grad():
        mlm, nsp = ours(paddle.to_tensor(batch[0]), token_type_ids=paddle.to_tensor(batch[1]),
                        attention_mask=paddle.to_tensor(batch[2]))
    with torch.no_grad():
        out = reference(input_ids=torch.from_numpy(batch[0]), token_type_ids=torch.from_numpy(batch[1]),
                        attention_mask=torch.from_numpy(batch[2]))
    assert np.abs(mlm.numpy() - out.prediction_logits.numpy()).max() <= 1e-5
    assert np.abs(nsp.numpy() - out.seq_relationship_logits.numpy()).max() <= 1e-5


def test_outputs_match_transformers_tf_converter():
    assert_outputs_match_transformers(FIXTURE, BertForPretraining.from_pretrained(FIXTURE))


@pytest.mark.parametrize("path", ["dir", "index", "prefix"])
def test_any_path_of_the_checkpoint_is_accepted(path):
    target = {"dir": FIXTURE, "index": FIXTURE / "bert_model.ckpt.index", "prefix": FIXTURE / "bert_model.ckpt"}[path]
    assert read_checkpoint(target).layout == "tensorflow"


def test_convert_to_our_layout_keeps_vocab_and_config(tmp_path):
    convert(FIXTURE, tmp_path / "ours")
    assert (tmp_path / "ours" / "vocab.txt").read_text("utf-8") == (FIXTURE / "vocab.txt").read_text("utf-8")
    assert read_checkpoint(tmp_path / "ours").config.vocab_size == 128


READ_BUNDLE = """
from paddle_wwm.checkpoints.tf_format import read_tf_bundle
result = (read_tf_bundle(sys.argv[2]), read_tf_bundle(sys.argv[2], keep_optimizer_state=True))
"""


@pytest.mark.parametrize("fixture", [FIXTURE, ADAM_FIXTURE], ids=["tiny", "adam_slots"])
def test_tensors_equal_tensorflows_reader_without_tensorflow(tmp_path, fixture):
    prefix = fixture / "bert_model.ckpt"
    weights, everything = run_without_torch_and_tensorflow(READ_BUNDLE, tmp_path, prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    names = reader.get_variable_to_shape_map()
    assert set(everything) == set(names)
    for name in names:
        expected = reader.get_tensor(name)
        assert everything[name].dtype == expected.dtype and np.array_equal(everything[name], expected), name
    optimizer_state = {n for n in names if n.endswith(("/adam_m", "/adam_v")) or n == "global_step"}
    assert set(weights) == set(names) - optimizer_state
    if fixture == ADAM_FIXTURE:
        assert len(optimizer_state) == 2 * len(weights) + 1


CONVERT = """
from paddle_wwm.checkpoints import convert
convert(sys.argv[2], sys.argv[3])
result = None
"""


@pytest.mark.parametrize("fixture", [FIXTURE, ADAM_FIXTURE], ids=["tiny", "adam_slots"])
def test_converted_without_tensorflow_gives_transformers_outputs(tmp_path, fixture):
    run_without_torch_and_tensorflow(CONVERT, tmp_path, fixture, tmp_path / "ours")
    assert_outputs_match_transformers(fixture, BertForPretraining.from_pretrained(tmp_path / "ours"))


def corrupted_copy(tmp_path, edit):
    target = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, target)
    edit(target)
    return target


def test_a_truncated_data_file_is_a_clear_error(tmp_path):
    def truncate(directory):
        data = directory / "bert_model.ckpt.data-00000-of-00001"
        data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"data-00000-of-00001: variable .* do not hold shape"):
        read_checkpoint(corrupted_copy(tmp_path, truncate))


def test_a_missing_data_file_is_named(tmp_path):
    target = corrupted_copy(tmp_path, lambda d: (d / "bert_model.ckpt.data-00000-of-00001").unlink())
    with pytest.raises(CheckpointError, match="data-00000-of-00001 is missing"):
        read_checkpoint(target)


def test_an_index_that_is_not_a_table_is_a_clear_error(tmp_path):
    target = corrupted_copy(tmp_path, lambda d: (d / "bert_model.ckpt.index").write_bytes(b"not a table" * 10))
    with pytest.raises(CheckpointError, match="bert_model.ckpt.index: not a TensorFlow checkpoint index"):
        read_checkpoint(target)


def test_a_snappy_compressed_index_block_is_refused_by_name(tmp_path):
    def mark_snappy(directory):
        index = directory / "bert_model.ckpt.index"
        data = bytearray(index.read_bytes())
        footer = bytes(data[-48:])
        _, pos = _varint(footer, 0)  # the metaindex block handle, then the index block's
        _, pos = _varint(footer, pos)
        offset, pos = _varint(footer, pos)
        size, _ = _varint(footer, pos)
        data[offset + size] = 1  # the block trailer's compression byte: 1 is snappy
        index.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="snappy"):
        read_checkpoint(corrupted_copy(tmp_path, mark_snappy))


def test_a_flipped_byte_in_the_data_is_caught_by_the_checksum(tmp_path):
    require_reference("crc32c")

    def flip(directory):
        data = directory / "bert_model.ckpt.data-00000-of-00001"
        raw = bytearray(data.read_bytes())
        raw[100] ^= 0xFF
        data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        read_checkpoint(corrupted_copy(tmp_path, flip))

"""Bad checkpoints and arguments: clear errors that name the file and the problem, and nothing
already written is lost or half-written."""
import json
import os
import pickle
import warnings

import numpy as np
import pytest

from paddle_wwm import BertConfig, BertForPretraining, BertForSequenceClassification, BertModel
from paddle_wwm.checkpoints import CheckpointError, convert, read_checkpoint
from paddle_wwm.checkpoints.tensor_files import write_safetensors
from paddle_wwm.cli import main
from paddle_wwm.modeling.config import ConfigError


@pytest.fixture
def ours_dir(tmp_path, tiny_config_dict):
    BertForPretraining(BertConfig(**tiny_config_dict)).save_pretrained(tmp_path / "ours")
    return tmp_path / "ours"


def test_missing_source(tmp_path):
    with pytest.raises(CheckpointError, match="no_such: no such file"):
        read_checkpoint(tmp_path / "no_such")


def test_directory_without_config_or_weights(tmp_path, ours_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no model config found"):
        read_checkpoint(empty)
    (empty / "config.json").write_text((ours_dir / "config.json").read_text())
    with pytest.raises(CheckpointError, match="no weights found"):
        read_checkpoint(empty)


def test_malformed_and_invalid_configs(ours_dir):
    config = ours_dir / "config.json"
    good = json.loads(config.read_text())
    config.write_text("{not json")
    with pytest.raises(ConfigError, match="config.json: not valid JSON"):
        read_checkpoint(ours_dir)
    config.write_text(json.dumps({**good, "num_attention_heads": 5}))
    with pytest.raises(ConfigError, match="hidden_size 32 is not divisible by num_attention_heads 5"):
        read_checkpoint(ours_dir)
    config.write_text(json.dumps({**good, "num_hidden_layers": 0}))
    with pytest.raises(ConfigError, match="num_hidden_layers must be a positive integer"):
        read_checkpoint(ours_dir)


def test_config_that_disagrees_with_the_weights_lists_every_mismatch(ours_dir):
    config = ours_dir / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "intermediate_size": 128}))
    with pytest.raises(CheckpointError, match=r"model.safetensors: shapes that disagree with the config: ") as error:
        read_checkpoint(ours_dir)
    message = str(error.value)
    for layer in (0, 1):
        assert f"bert.layers.{layer}.intermediate.weight: (32, 64) (config implies (32, 128))" in message
        assert f"bert.layers.{layer}.output.weight: (64, 32) (config implies (128, 32))" in message


def test_more_layers_in_the_weights_than_in_the_config(ours_dir):
    config = ours_dir / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_hidden_layers": 3}))
    with pytest.raises(CheckpointError, match="12 encoder tensors missing: bert.layers.2"):
        read_checkpoint(ours_dir)


def test_unknown_tensor_names(ours_dir):
    write_safetensors({"encoder.foo": np.zeros(3, np.float32)}, ours_dir / "model.safetensors")
    with pytest.raises(CheckpointError, match="not a BERT in any layout we know"):
        read_checkpoint(ours_dir)


def test_truncated_weights_file(ours_dir):
    weights = ours_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors: not a readable safetensors file"):
        read_checkpoint(ours_dir)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/paddle_wwm_pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, ours_dir):
    target = tmp_path / "nlp"
    target.mkdir()
    (target / "config.json").write_text((ours_dir / "config.json").read_text())
    with open(target / "model_state.pdparams", "wb") as handle:
        pickle.dump({"bert.embeddings.word_embeddings.weight": _Exploit()}, handle)
    with pytest.raises(CheckpointError, match="refusing to load posix.system"):
        read_checkpoint(target)
    assert not os.path.exists("/tmp/paddle_wwm_pwned")


def test_vocab_that_disagrees_with_the_config(ours_dir):
    (ours_dir / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    with pytest.raises(CheckpointError, match="vocab.txt: 2 tokens, but .*config.json says vocab_size 21128"):
        read_checkpoint(ours_dir)


def test_existing_output_is_kept_without_overwrite(tmp_path, ours_dir):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "precious.txt").write_text("keep me")
    assert main(["convert", str(ours_dir), str(dst)]) == 2
    assert (dst / "precious.txt").read_text() == "keep me"
    assert main(["convert", str(ours_dir), str(dst), "--to", "huggingface", "--overwrite"]) == 0
    assert read_checkpoint(dst).layout == "huggingface" and not (dst / "precious.txt").exists()


def test_failed_conversion_leaves_nothing_behind(tmp_path, ours_dir, capsys):
    config = ours_dir / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "hidden_size": 48, "num_attention_heads": 4}))
    assert main(["convert", str(ours_dir), str(tmp_path / "dst")]) == 2
    assert "shapes that disagree" in capsys.readouterr().err
    assert not (tmp_path / "dst").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_num_classes_that_disagrees_with_the_checkpoint(tmp_path, tiny_config_dict):
    BertForSequenceClassification(BertConfig(**tiny_config_dict), num_classes=3).save_pretrained(tmp_path / "cls")
    assert BertForSequenceClassification.from_pretrained(tmp_path / "cls").num_classes == 3
    with pytest.raises(CheckpointError, match="classifier was trained for a different num_classes"):
        BertForSequenceClassification.from_pretrained(tmp_path / "cls", num_classes=5)


def test_released_encoders_without_mlm_head_warn_once(tmp_path, tiny_config_dict):
    BertModel(BertConfig(**tiny_config_dict)).save_pretrained(tmp_path / "enc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BertForPretraining.from_pretrained(tmp_path / "enc")
        BertForPretraining.from_pretrained(tmp_path / "enc")
    messages = [str(w.message) for w in caught if "no MLM head" in str(w.message)]
    assert len(messages) == 1 and "freshly initialised" in messages[0]


def test_unknown_zoo_name_and_layout(capsys, ours_dir, tmp_path):
    assert main(["import", "no-such-model", str(ours_dir)]) == 2
    assert "'no-such-model' is not in the zoo" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", str(ours_dir), str(tmp_path / "x"), "--to", "onnx"])

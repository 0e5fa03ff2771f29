"""The zoo listing, the model store, the caches of the other libraries, download and import."""
import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pytest

from paddle_wwm import BertForPretraining, BertModel, BertForSequenceClassification, store, zoo
from paddle_wwm.checkpoints import CheckpointError, read_checkpoint
from paddle_wwm.cli import main

SEED_PARAMETERS = {"chinese-roberta-wwm-ext": 102, "chinese-roberta-wwm-ext-large": 325, "rbtl3": 61, "rbt3": 38}


def test_parameter_counts_of_the_built_models_are_the_seeds():
    rows = {row["name"]: row for row in store.listing()}
    assert len(rows) == 9
    for name, millions in SEED_PARAMETERS.items():
        assert int(rows[name]["parameters"] / 1e6) == millions, name  # the seed truncates: 325.5M -> 325M


def test_zoo_command_lists_every_model_as_json(capsys):
    assert main(["zoo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [e.name for e in zoo.ZOO]
    assert {r["layers"] for r in rows if r["name"].startswith("rbt")} == {3, 4, 6}


def test_aliases_resolve_to_one_name():
    assert zoo.canonical_name("hfl/chinese-roberta-wwm-ext") == "chinese-roberta-wwm-ext"
    assert zoo.canonical_name("roberta-wwm-ext-large") == "chinese-roberta-wwm-ext-large"
    assert zoo.canonical_name("bert-wwm-ext-chinese") == "chinese-bert-wwm-ext"
    assert zoo.canonical_name("no-such-model") is None


def make_rbt3_like(tmp_path, layout, seed=0):
    """A random checkpoint with rbt3's real shapes, written in `layout`."""
    import paddle

    paddle.seed(seed)
    model = BertForPretraining(zoo.zoo_config("rbt3"))
    out = tmp_path / f"rbt3-{layout}"
    model.save_pretrained(out, layout=layout)
    return out, model


def test_offline_with_nothing_stored_names_what_was_tried_and_the_fix():
    with pytest.raises(zoo.ModelNotFoundError) as error:
        BertModel.from_pretrained("rbt3")
    message = str(error.value)
    assert "store" in message and "PaddleNLP's cache" in message and "Hugging Face's cache" in message
    assert "paddle-wwm import rbt3" in message


def test_import_then_load_by_name_and_by_alias(tmp_path):
    source, model = make_rbt3_like(tmp_path, "huggingface")
    assert main(["import", "rbt3", str(source)]) == 0
    loaded = BertForPretraining.from_pretrained("hfl/rbt3")
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), name


def test_import_refuses_a_checkpoint_of_another_model(tmp_path):
    source, _ = make_rbt3_like(tmp_path, "paddle_wwm")
    with pytest.raises(CheckpointError, match="is not rbt6: num_hidden_layers 3"):
        store.import_model("rbt6", source)


def test_paddlenlp_cache_is_converted_on_the_fly(tmp_path, monkeypatch):
    source, model = make_rbt3_like(tmp_path, "paddlenlp")
    cache = tmp_path / "ppnlp" / "models" / "hfl" / "rbt3"
    shutil.copytree(source, cache)
    loaded = BertModel.from_pretrained("rbt3")
    assert (store.home() / "models" / "rbt3" / "model.safetensors").is_file()
    assert np.array_equal(loaded.embeddings.word_embeddings.weight.numpy(),
                          model.bert.embeddings.word_embeddings.weight.numpy())


def test_hugging_face_cache_is_converted_on_the_fly(tmp_path):
    source, model = make_rbt3_like(tmp_path, "huggingface")
    snapshot = tmp_path / "hf" / "hub" / "models--hfl--rbt3" / "snapshots" / "abc123"
    shutil.copytree(source, snapshot)
    loaded = BertModel.from_pretrained("rbt3")
    assert np.array_equal(loaded.layers[2].output.weight.numpy(), model.bert.layers[2].output.weight.numpy())


@pytest.fixture
def local_hub(tmp_path):
    """A Hugging Face-like file server on loopback: /hfl/rbt3/resolve/main/<file>."""
    root = tmp_path / "hub"
    served = root / "hfl" / "rbt3" / "resolve" / "main"
    served.parent.mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_from_the_hub_when_online(tmp_path, monkeypatch, local_hub):
    served, endpoint = local_hub
    source, model = make_rbt3_like(tmp_path, "huggingface")
    shutil.copytree(source, served)
    (served / "model.safetensors").unlink()
    import torch
    from paddle_wwm.checkpoints.tensor_files import read_safetensors
    state = read_safetensors(source / "model.safetensors")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, served / "pytorch_model.bin")  # as hfl ships
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("PADDLE_WWM_OFFLINE", "0")
    loaded = BertForSequenceClassification.from_pretrained("rbt3", num_classes=4)
    assert np.array_equal(loaded.bert.pooler.dense.weight.numpy(), model.bert.pooler.dense.weight.numpy())
    assert read_checkpoint(store.store_dir("rbt3")).layout == "paddle_wwm"


def test_download_failure_is_reported_with_the_fix(monkeypatch, local_hub):
    _, endpoint = local_hub  # serves nothing for rbt3
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("PADDLE_WWM_OFFLINE", "0")
    with pytest.raises(zoo.ModelNotFoundError, match="downloading hfl/rbt3.*paddle-wwm import rbt3"):
        BertModel.from_pretrained("rbt3")
    assert not list((store.home() / "models").glob("*"))


def test_truncated_initialisation_takes_the_first_layers(tmp_path):
    """RBT3 was initialised from the first 3 layers of RoBERTa-wwm-ext."""
    import paddle

    paddle.seed(3)
    big = BertModel(zoo.zoo_config("rbt6"))
    big.save_pretrained(tmp_path / "six")
    small = BertModel.from_pretrained(tmp_path / "six", num_hidden_layers=3)
    assert small.config.num_hidden_layers == 3 and len(small.layers) == 3
    for i in range(3):
        assert np.array_equal(small.layers[i].attention.qkv.weight.numpy(), big.layers[i].attention.qkv.weight.numpy())
    with pytest.raises(CheckpointError, match="cannot take 7 layers from a 6-layer"):
        BertModel.from_pretrained(tmp_path / "six", num_hidden_layers=7)


def test_the_registry_imports_no_paddle():
    """Names, aliases and architectures come without paddle (the store and the models bring it)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom paddle_wwm import zoo\n"
            "assert zoo.zoo_config(zoo.entry('hfl/rbt3').name).num_hidden_layers == 3\n"
            "assert 'paddle' not in sys.modules, 'the zoo registry imported paddle'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
    assert result.returncode == 0, result.stderr[-2000:]

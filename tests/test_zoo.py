"""The zoo listing, the model store, the caches of the other libraries, download and import."""
import contextlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from paddle_wwm import BertForPretraining, BertModel, BertForSequenceClassification, store, zoo
from paddle_wwm.checkpoints import CheckpointError, read_checkpoint
from local_hub import serving
from paddle_wwm.cli import main

TF_FIXTURE = Path(__file__).parent / "fixtures" / "tf_bert_tiny"

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
def online(monkeypatch):
    """Downloads allowed, from a local server only (tests/local_hub.py): `serve(hf, bos)` starts it
    for rbt3 and points HF_ENDPOINT and PADDLE_WWM_PADDLENLP_ENDPOINT at it."""
    monkeypatch.setenv("PADDLE_WWM_OFFLINE", "0")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PADDLE_WWM_SOURCES", raising=False)
    with contextlib.ExitStack() as stack:
        def serve(hf, bos=None):
            site, base = stack.enter_context(serving("hfl/rbt3", hf, bos or {}))
            monkeypatch.setenv("HF_ENDPOINT", base + "/hf")
            monkeypatch.setenv("PADDLE_WWM_PADDLENLP_ENDPOINT", base + "/bos")
            return site
        yield serve


def files_of(directory, names):
    return {name: (directory / name).read_bytes() for name in names}


def test_download_from_the_hub_when_online(tmp_path, online):
    source, model = make_rbt3_like(tmp_path, "huggingface")
    import torch
    from paddle_wwm.checkpoints.tensor_files import read_safetensors
    state = read_safetensors(source / "model.safetensors")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, tmp_path / "pytorch_model.bin")  # as hfl ships
    site = online({**files_of(source, ("config.json", "vocab.txt")), **files_of(tmp_path, ["pytorch_model.bin"])})
    loaded = BertForSequenceClassification.from_pretrained("rbt3", num_classes=4)
    assert np.array_equal(loaded.bert.pooler.dense.weight.numpy(), model.bert.pooler.dense.weight.numpy())
    assert read_checkpoint(store.store_dir("rbt3")).layout == "paddle_wwm"
    assert not store.download_dir("rbt3").exists()  # the downloaded files go once converted
    assert not [r for r in site.requests if r[1].startswith("/bos/")]  # Hugging Face had everything


def test_download_failure_is_reported_with_the_fix(online):
    online({})  # serves nothing for rbt3
    with pytest.raises(zoo.ModelNotFoundError, match="downloading hfl/rbt3.*paddle-wwm import rbt3"):
        BertModel.from_pretrained("rbt3")
    assert not list((store.home() / "models").glob("*"))


PADDLENLP_RBT3 = ("paddlenlp/models/transformers/rbt3/rbt3_chn_large.pdparams",
                  "paddlenlp/models/transformers/rbt3/vocab.txt")


def test_paddlenlp_hosting_alone_gets_the_zoo_config(tmp_path, online):
    """PaddleNLP serves weights and vocab only: the store writes the zoo's config.json beside them."""
    source, model = make_rbt3_like(tmp_path, "paddlenlp")
    online({}, dict(zip(PADDLENLP_RBT3, files_of(source, ("model_state.pdparams", "vocab.txt")).values())))
    loaded = BertModel.from_pretrained("rbt3")
    assert np.array_equal(loaded.layers[1].attention.qkv.weight.numpy(), model.bert.layers[1].attention.qkv.weight.numpy())
    assert read_checkpoint(store.store_dir("rbt3")).config == zoo.zoo_config("rbt3")


def test_download_command_fetches_into_the_store_from_the_chosen_source(tmp_path, online, capsys):
    source, model = make_rbt3_like(tmp_path, "paddlenlp")
    hf_source, _ = make_rbt3_like(tmp_path, "huggingface", seed=1)
    site = online(files_of(hf_source, ("config.json", "vocab.txt", "model.safetensors")),
                  dict(zip(PADDLENLP_RBT3, files_of(source, ("model_state.pdparams", "vocab.txt")).values())))
    assert main(["download", "hfl/rbt3", "--source", "paddlenlp"]) == 0
    assert capsys.readouterr().out == f"downloaded rbt3 -> {store.store_dir('rbt3')}\n"
    assert not [r for r in site.requests if r[1].startswith("/hf/")]
    stored = read_checkpoint(store.store_dir("rbt3")).state
    assert np.array_equal(stored["bert.pooler.dense.weight"], model.bert.pooler.dense.weight.numpy())

    assert main(["download", "rbt3"]) == 0
    assert "already in the store" in capsys.readouterr().out
    assert main(["download", "rbt3", "--force"]) == 0  # now Hugging Face's, the first source
    stored = read_checkpoint(store.store_dir("rbt3")).state
    assert np.array_equal(stored["bert.pooler.dense.weight"], read_checkpoint(hf_source).state["bert.pooler.dense.weight"])


def test_download_command_offline_is_one_line_naming_the_fix(monkeypatch, capsys):
    monkeypatch.setenv("PADDLE_WWM_OFFLINE", "1")
    assert main(["download", "rbt3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paddle-wwm download: error: downloads are switched off") and "paddle-wwm import rbt3" in err


def zip_folder(folder, archive, inside):
    """A zip as the seed's downloads are: one folder holding the checkpoint's files."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as bundle:
        for file in sorted(folder.iterdir()):
            bundle.write(file, f"{inside}/{file.name}")
    return archive


def test_import_of_the_seed_zip_checks_the_sizes_against_the_zoo(tmp_path, capsys):
    archive = zip_folder(TF_FIXTURE, tmp_path / "chinese_roberta_wwm_ext_L-12_H-768_A-12.zip",
                         "chinese_roberta_wwm_ext_L-12_H-768_A-12")
    assert main(["import", "chinese-roberta-wwm-ext", str(archive)]) == 2
    err = capsys.readouterr().err
    assert "is not chinese-roberta-wwm-ext: num_hidden_layers 2 (zoo: 12), hidden_size 32 (zoo: 768)" in err
    assert not list(store.home().glob("unpacked-*"))  # the extraction is cleaned up
    out = tmp_path / "converted"
    assert main(["convert", str(archive), str(out)]) == 0  # the same zip converts (and its tensors are the fixture's)
    reference = read_checkpoint(TF_FIXTURE).state
    converted = read_checkpoint(out).state
    assert converted.keys() == reference.keys() and all(np.array_equal(converted[k], reference[k]) for k in reference)


@pytest.mark.parametrize("layout", ["huggingface", "paddlenlp"])
def test_import_of_a_zoo_sized_zip_then_load_by_name(tmp_path, layout):
    source, model = make_rbt3_like(tmp_path, layout, seed=2)
    archive = zip_folder(source, tmp_path / "rbt3.zip", "rbt3")
    assert main(["import", "rbt3", str(archive)]) == 0
    loaded = BertForPretraining.from_pretrained("rbt3")
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), name


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

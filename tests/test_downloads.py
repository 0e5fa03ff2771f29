"""paddle_wwm.downloads against a local HTTP server on 127.0.0.1 (tests/local_hub.py) that serves a
Hugging Face-style and a PaddleNLP-style tree, both holding a real tiny checkpoint."""
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from local_hub import serving
from paddle_wwm.checkpoints import convert, read_checkpoint
from paddle_wwm.downloads import DownloadError, download_zoo_model, fetch_model_files, sources_for

REPO = "hfl/rbt3"
BOS_WEIGHTS = "paddlenlp/models/transformers/rbt3/rbt3_chn_large.pdparams"
BOS_VOCAB = "paddlenlp/models/transformers/rbt3/vocab.txt"
FIXTURE = Path(__file__).parent / "fixtures" / "tf_bert_tiny"


@pytest.fixture(scope="module")
def model_trees(tmp_path_factory):
    """The TensorFlow fixture converted to the Hugging Face layout (model.safetensors) and PaddleNLP's."""
    root = tmp_path_factory.mktemp("trees")
    convert(FIXTURE, root / "hf", layout="huggingface")
    convert(FIXTURE, root / "paddlenlp", layout="paddlenlp")
    hf = {name: (root / "hf" / name).read_bytes() for name in ("config.json", "vocab.txt", "model.safetensors")}
    bos = {BOS_WEIGHTS: (root / "paddlenlp" / "model_state.pdparams").read_bytes(),
           BOS_VOCAB: (root / "paddlenlp" / "vocab.txt").read_bytes()}
    return root, hf, bos


@pytest.fixture
def site(model_trees, monkeypatch):
    _, hf, bos = model_trees
    monkeypatch.delenv("PADDLE_WWM_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PADDLE_WWM_SOURCES", raising=False)
    with serving(REPO, hf, bos) as (site, base):
        monkeypatch.setenv("HF_ENDPOINT", base + "/hf")
        monkeypatch.setenv("PADDLE_WWM_PADDLENLP_ENDPOINT", base + "/bos")
        yield site


def gets(site, suffix):
    return [r for r in site.requests if r[0] == "GET" and r[1].endswith(suffix)]


def test_everything_from_hugging_face_with_checks(site, model_trees, tmp_path):
    out = download_zoo_model("rbt3", tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "vocab.txt"]
    for name, body in site.hf.items():
        assert (out / name).read_bytes() == body
    assert not any(r[1].endswith("pytorch_model.bin") for r in site.requests)  # safetensors come first
    state = read_checkpoint(out).state
    reference = read_checkpoint(model_trees[0] / "hf").state
    assert all(np.array_equal(state[k], reference[k]) for k in reference)


def test_a_file_missing_from_one_source_comes_from_the_other(site, model_trees, tmp_path):
    del site.hf["model.safetensors"]
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model_state.pdparams", "vocab.txt"]
    assert (out / "model_state.pdparams").read_bytes() == site.bos[BOS_WEIGHTS]
    assert (out / "vocab.txt").read_bytes() == site.hf["vocab.txt"]  # Hugging Face comes first
    reference = read_checkpoint(model_trees[0] / "hf").state
    state = read_checkpoint(out).state
    assert all(np.array_equal(state[k], reference[k]) for k in reference)


def test_the_source_order_can_put_paddlenlp_first(site, tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_WWM_SOURCES", "paddlenlp,huggingface")
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model_state.pdparams", "vocab.txt"]
    assert (out / "vocab.txt").read_bytes() == site.bos[BOS_VOCAB]
    assert not gets(site, "model.safetensors")


def test_an_interrupted_download_resumes_with_a_range_request(site, tmp_path):
    body = site.hf["model.safetensors"]
    sha = hashlib.sha256(body).hexdigest()
    site.cut[f"/cdn/{sha}"] = 5000
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    first, second = gets(site, f"/cdn/{sha}")
    assert first[2] is None and second[2] == "bytes=5000-"
    assert hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest() == sha
    assert not list(out.glob("*.part"))


def test_a_part_file_left_by_an_earlier_run_is_resumed(site, tmp_path):
    body = site.hf["model.safetensors"]
    sha = hashlib.sha256(body).hexdigest()
    site.cut[f"/cdn/{sha}"] = 3000
    del site.bos[BOS_WEIGHTS]
    with pytest.raises(DownloadError, match=r"(?s)closed before the end.*model.safetensors.part is kept"):
        fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3", attempts=1)
    assert (tmp_path / "m" / "model.safetensors.part").stat().st_size == 3000
    fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    assert gets(site, f"/cdn/{sha}")[-1][2] == "bytes=3000-"
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == body


def test_a_corrupted_file_is_detected_deleted_and_reported(site, tmp_path):
    sha = hashlib.sha256(site.hf["model.safetensors"]).hexdigest()
    site.corrupt.add(f"/cdn/{sha}")
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")  # PaddleNLP still has the weights
    assert (out / "model_state.pdparams").read_bytes() == site.bos[BOS_WEIGHTS]
    assert not (out / "model.safetensors").exists() and not (out / "model.safetensors.part").exists()
    del site.bos[BOS_WEIGHTS]
    (out / "model_state.pdparams").unlink()
    with pytest.raises(DownloadError, match=rf"model.safetensors: corrupted download \(sha256 [0-9a-f]{{64}}, "
                                            rf"expected {sha}\); the file was deleted"):
        fetch_model_files(sources_for("rbt3"), out, name="rbt3")
    assert not (out / "model.safetensors.part").exists()


def test_a_corrupted_small_file_fails_its_git_hash(site, tmp_path):
    site.corrupt.add(f"/hf/{REPO}/resolve/main/config.json")
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    assert not (out / "config.json").exists()  # optional: PaddleNLP has none, the caller writes the zoo's


def test_offline_raises_at_once(site, tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_WWM_OFFLINE", "1")
    with pytest.raises(DownloadError, match=r"PADDLE_WWM_OFFLINE.*paddle-wwm import rbt3 PATH"):
        fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    assert site.requests == [] and not (tmp_path / "m").exists()


def test_when_everything_fails_one_error_lists_every_url(site, tmp_path, monkeypatch):
    site.hf.clear()
    site.bos.clear()
    with pytest.raises(DownloadError) as caught:
        fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    message = str(caught.value)
    for url in (f"/hf/{REPO}/resolve/main/vocab.txt", f"/hf/{REPO}/resolve/main/model.safetensors",
                f"/hf/{REPO}/resolve/main/pytorch_model.bin", "/bos/" + BOS_WEIGHTS, "/bos/" + BOS_VOCAB):
        assert re.search(re.escape(url) + r": HTTP 404", message), url
    assert "vocab and weights of rbt3" in message and "paddle-wwm import rbt3 PATH" in message
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/hf")  # the discard port: nothing listens
    monkeypatch.setenv("PADDLE_WWM_PADDLENLP_ENDPOINT", "http://127.0.0.1:9/bos")
    with pytest.raises(DownloadError, match="127.0.0.1:9/hf/hfl/rbt3/resolve/main/vocab.txt: cannot reach"):
        fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3", timeout=5)

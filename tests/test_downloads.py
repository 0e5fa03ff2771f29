"""paddle_wwm.downloads against a local HTTP server on 127.0.0.1 that serves a Hugging Face-style
tree (LFS files behind a redirect with X-Linked-Size / X-Linked-Etag, small files with their git
blob sha1 as ETag) and a PaddleNLP-style tree (bos paths), both holding a real tiny checkpoint."""
import hashlib
import http.server
import re
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from paddle_wwm.checkpoints import convert, read_checkpoint
from paddle_wwm.downloads import DownloadError, fetch_model_files, sources_for

REPO = "hfl/rbt3"
BOS_WEIGHTS = "paddlenlp/models/transformers/rbt3/rbt3_chn_large.pdparams"
BOS_VOCAB = "paddlenlp/models/transformers/rbt3/vocab.txt"
LFS_FILES = ("pytorch_model.bin", "model.safetensors")


def git_blob_sha1(body: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def serve(self, head):
        site = self.server.site
        path = urllib.parse.urlparse(self.path).path
        site.requests.append((self.command, path, self.headers.get("Range")))
        hf = re.fullmatch(r"/hf/(.+)/resolve/main/(.+)", path)
        if hf:
            body = site.hf.get(hf.group(2)) if hf.group(1) == REPO else None
            if body is None:
                return self.send_error(404)
            if hf.group(2) in LFS_FILES:  # LFS: a redirect to the CDN carrying size and sha256
                sha = hashlib.sha256(body).hexdigest()
                site.cdn[sha] = body
                self.send_response(302)
                self.send_header("Location", f"/cdn/{sha}")
                self.send_header("X-Linked-Size", str(len(body)))
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("Content-Length", "0")
                return self.end_headers()
            return self.send_body(body, path, head, etag=git_blob_sha1(body))
        if path.startswith("/cdn/") and path[5:] in site.cdn:
            return self.send_body(site.cdn[path[5:]], path, head)
        if path.startswith("/bos/") and path[5:] in site.bos:
            body = site.bos[path[5:]]
            return self.send_body(body, path, head, etag=hashlib.md5(body).hexdigest())
        self.send_error(404)

    def send_body(self, body, path, head, etag=None):
        site = self.server.site
        if path in site.corrupt:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not head:
            start = int(match.group(1))
            if start >= len(body):
                return self.send_error(416)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if etag:
            self.send_header("ETag", f'"{etag}"')
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if head:
            return
        cut = site.cut.pop(path, None)  # promise the whole body, send part of it, hang up
        self.wfile.write(body[start:cut] if cut is not None else body[start:])
        self.close_connection = True


class Site:
    def __init__(self, hf, bos):
        self.hf, self.bos, self.cdn = dict(hf), dict(bos), {}
        self.requests, self.corrupt, self.cut = [], set(), {}


@pytest.fixture(scope="module")
def model_trees(tmp_path_factory):
    """A tiny transformers checkpoint (pytorch_model.bin) and its PaddleNLP conversion (pdparams)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("trees")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=128, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32)
    transformers.BertForPreTraining(config).save_pretrained(root / "hf", safe_serialization=False)
    vocab = (Path(__file__).parents[1] / "paddle_wwm" / "data" / "vocab.txt").read_text("utf-8").splitlines()[:128]
    (root / "hf" / "vocab.txt").write_text("\n".join(vocab) + "\n", "utf-8")
    convert(root / "hf", root / "paddlenlp", layout="paddlenlp")
    hf = {name: (root / "hf" / name).read_bytes() for name in ("config.json", "vocab.txt", "pytorch_model.bin")}
    bos = {BOS_WEIGHTS: (root / "paddlenlp" / "model_state.pdparams").read_bytes(),
           BOS_VOCAB: (root / "paddlenlp" / "vocab.txt").read_bytes()}
    return root, hf, bos


@pytest.fixture
def site(model_trees, monkeypatch):
    _, hf, bos = model_trees
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.site = Site(hf, bos)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.delenv("PADDLE_WWM_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PADDLE_WWM_SOURCES", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", base + "/hf")
    monkeypatch.setenv("PADDLE_WWM_PADDLENLP_ENDPOINT", base + "/bos")
    yield server.site
    server.shutdown()
    server.server_close()


def gets(site, suffix):
    return [r for r in site.requests if r[0] == "GET" and r[1].endswith(suffix)]


def test_everything_from_hugging_face_with_checks(site, model_trees, tmp_path):
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "pytorch_model.bin", "vocab.txt"]
    for name, body in site.hf.items():
        assert (out / name).read_bytes() == body
    assert ("HEAD", f"/hf/{REPO}/resolve/main/model.safetensors", None) in site.requests  # 404, then the .bin
    state = read_checkpoint(out).state
    reference = read_checkpoint(model_trees[0] / "hf").state
    assert all(np.array_equal(state[k], reference[k]) for k in reference)


def test_a_file_missing_from_one_source_comes_from_the_other(site, model_trees, tmp_path):
    del site.hf["pytorch_model.bin"]
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
    assert not gets(site, "pytorch_model.bin")


def test_an_interrupted_download_resumes_with_a_range_request(site, tmp_path):
    body = site.hf["pytorch_model.bin"]
    sha = hashlib.sha256(body).hexdigest()
    site.cut[f"/cdn/{sha}"] = 5000
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    first, second = gets(site, f"/cdn/{sha}")
    assert first[2] is None and second[2] == "bytes=5000-"
    assert hashlib.sha256((out / "pytorch_model.bin").read_bytes()).hexdigest() == sha
    assert not list(out.glob("*.part"))


def test_a_part_file_left_by_an_earlier_run_is_resumed(site, tmp_path):
    body = site.hf["pytorch_model.bin"]
    sha = hashlib.sha256(body).hexdigest()
    site.cut[f"/cdn/{sha}"] = 3000
    del site.bos[BOS_WEIGHTS]
    with pytest.raises(DownloadError, match=r"(?s)closed before the end.*pytorch_model.bin.part is kept"):
        fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3", attempts=1)
    assert (tmp_path / "m" / "pytorch_model.bin.part").stat().st_size == 3000
    fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")
    assert gets(site, f"/cdn/{sha}")[-1][2] == "bytes=3000-"
    assert (tmp_path / "m" / "pytorch_model.bin").read_bytes() == body


def test_a_corrupted_file_is_detected_deleted_and_reported(site, tmp_path):
    sha = hashlib.sha256(site.hf["pytorch_model.bin"]).hexdigest()
    site.corrupt.add(f"/cdn/{sha}")
    out = fetch_model_files(sources_for("rbt3"), tmp_path / "m", name="rbt3")  # PaddleNLP still has the weights
    assert (out / "model_state.pdparams").read_bytes() == site.bos[BOS_WEIGHTS]
    assert not (out / "pytorch_model.bin").exists() and not (out / "pytorch_model.bin.part").exists()
    del site.bos[BOS_WEIGHTS]
    (out / "model_state.pdparams").unlink()
    with pytest.raises(DownloadError, match=rf"pytorch_model.bin: corrupted download \(sha256 [0-9a-f]{{64}}, "
                                            rf"expected {sha}\); the file was deleted"):
        fetch_model_files(sources_for("rbt3"), out, name="rbt3")
    assert not (out / "pytorch_model.bin.part").exists()


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

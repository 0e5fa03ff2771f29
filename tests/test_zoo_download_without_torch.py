"""The issue's one-liner: `BertModel.from_pretrained("rbt3")` in a process where torch and tensorflow
cannot be imported, with nothing local, completes from a (local) Hugging Face server that publishes
only pytorch_model.bin, as the hfl repositories do; its outputs equal transformers' on that file."""
import json
from pathlib import Path

import numpy as np
import torch
import transformers

from conftest import padded_batch, randomize_torch_model
from hidden_imports import run_without_torch_and_tensorflow
from local_hub import serving

ROOT = Path(__file__).resolve().parents[1]

FROM_PRETRAINED = """
import numpy as np
import paddle
from paddle_wwm import BertModel
batch = np.load(sys.argv[2])
model = BertModel.from_pretrained("rbt3")
model.eval()
inputs = {name: paddle.to_tensor(batch[name]) for name in ("input_ids", "token_type_ids", "attention_mask")}
with paddle.no_grad():
    sequence, pooled = model(**inputs)
result = (sequence.numpy(), pooled.numpy())
"""


def test_from_pretrained_of_a_zoo_name_downloads_and_reads_the_bin_without_torch(tmp_path, monkeypatch):
    config = json.loads((ROOT / "configs" / "models" / "rbt3.json").read_text())
    reference = randomize_torch_model(transformers.BertModel(transformers.BertConfig(**config)), seed=7).eval()
    reference.save_pretrained(tmp_path / "hf", safe_serialization=False)
    hf = {name: (tmp_path / "hf" / name).read_bytes() for name in ("config.json", "pytorch_model.bin")}
    hf["vocab.txt"] = (ROOT / "paddle_wwm" / "data" / "vocab.txt").read_bytes()
    batch = dict(zip(("input_ids", "token_type_ids", "attention_mask"), padded_batch(seed=9)))
    np.savez(tmp_path / "batch.npz", **batch)
    monkeypatch.delenv("PADDLE_WWM_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with serving("hfl/rbt3", hf, {}) as (site, base):
        monkeypatch.setenv("HF_ENDPOINT", base + "/hf")
        monkeypatch.setenv("PADDLE_WWM_PADDLENLP_ENDPOINT", base + "/bos")
        sequence, pooled = run_without_torch_and_tensorflow(FROM_PRETRAINED, tmp_path, tmp_path / "batch.npz")
    assert any(method == "GET" and path.startswith("/cdn/") for method, path, _ in site.requests)
    with torch.no_grad():
        out = reference(**{k: torch.from_numpy(v) for k, v in batch.items()})
    assert np.abs(sequence - out.last_hidden_state.numpy()).max() <= 1e-5
    assert np.abs(pooled - out.pooler_output.numpy()).max() <= 1e-5

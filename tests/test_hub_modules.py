"""PaddleHub modules: every zoo name installs and loads by name, gives the reference model's
numbers, fine-tunes with hub.Trainer and loads its checkpoints back; bad requests are named.

Each test that touches PaddleHub runs in a fresh process with its own empty HUB_HOME (PaddleHub
fixes its directories when it is imported). No released weights can be downloaded here, so the
model store holds small random checkpoints under the zoo names (written straight into the
store: `paddle-wwm import` would refuse a config that is not the zoo's).
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, randomize_paddle_model, randomize_torch_model, ran_in_fresh_process

ROOT = Path(__file__).resolve().parents[1]
ZOO_MODULES = {"chinese-bert-wwm": "chinese-bert-wwm", "chinese-bert-wwm-ext": "chinese-bert-wwm-ext",
               "chinese-roberta-wwm-ext": "chinese-roberta-wwm-ext",
               "chinese-roberta-wwm-ext-large": "chinese-roberta-wwm-ext-large", "rbt3": "rbt3", "rbtl3": "rbtl3",
               "rbt4": "rbt4", "rbt6": "rbt6", "roberta-wwm-ext": "chinese-roberta-wwm-ext",
               "roberta-wwm-ext-large": "chinese-roberta-wwm-ext-large"}
REVIEWS = ["这家酒店的服务很好，房间干净", "太差了，再也不会来", "早餐丰富，位置方便", "隔音差，空调坏了还没人修",
           "性价比很高，推荐", "前台态度恶劣"]


def in_fresh_hub(request, tmp_path, monkeypatch) -> bool:
    """True in the calling process (the test ran, and passed, in a fresh one); in the fresh
    process False, with HUB_HOME set to an empty directory before PaddleHub is imported."""
    if ran_in_fresh_process(request):
        return True
    assert "paddlehub" not in sys.modules
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    return False


def store_random_model(zoo_name, seed=0, make=None, noise=True):
    """A random tiny checkpoint in the model store under a zoo name; returns the model. With
    noise, every tensor is noise (a mis-mapped one cannot hide); without, BERT's initialisation
    (what training starts from)."""
    import paddle

    from paddle_wwm import store
    from paddle_wwm.modeling import BertConfig, BertForPretraining

    paddle.seed(seed)
    model = (make or BertForPretraining)(BertConfig(**TINY))
    model = (randomize_paddle_model(model, seed=seed) if noise else model).eval()
    model.save_pretrained(store.store_dir(zoo_name))
    return model


def test_committed_modules_are_the_templates_output(tmp_path):
    from paddle_wwm.integrations.hub_packaging import write_zoo_modules, zoo_module_names

    assert zoo_module_names() == ZOO_MODULES
    written = write_zoo_modules(tmp_path)
    committed = sorted(p.name for p in (ROOT / "hub_modules").iterdir())
    assert committed == sorted(ZOO_MODULES)
    for directory in written:
        assert (ROOT / "hub_modules" / directory.name / "module.py").read_text() == \
            (directory / "module.py").read_text(), (
            f"hub_modules/{directory.name} is stale: rewrite with python -c \"from paddle_wwm.integrations."
            "hub_packaging import write_zoo_modules; write_zoo_modules('hub_modules')\"")
    assert "zoo_name = 'chinese-roberta-wwm-ext'" in (ROOT / "hub_modules/roberta-wwm-ext/module.py").read_text()


def test_every_zoo_module_installs_and_loads_by_name(request, tmp_path, monkeypatch):
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    import paddle

    from paddle_wwm.cli import main
    from paddle_wwm.integrations import hub_packaging
    from paddle_wwm.modeling import BertModel

    seeds = {zoo_name: i for i, zoo_name in enumerate(sorted(set(ZOO_MODULES.values())))}
    for zoo_name, seed in seeds.items():
        store_random_model(zoo_name, seed=seed)
    for name in ZOO_MODULES:
        if name == "roberta-wwm-ext":  # PaddleHub's own command line, as its users type it
            hub_cli = Path(sys.executable).with_name("hub")
            done = subprocess.run([str(hub_cli), "install", str(ROOT / "hub_modules" / name)], capture_output=True,
                                  text=True, timeout=300)
            assert "Successfully installed roberta-wwm-ext" in done.stdout + done.stderr, done.stderr[-2000:]
        elif name == "rbt4":  # as from an installed wheel, which has no hub_modules/: module.py written afresh
            with monkeypatch.context() as wheel:
                wheel.setattr(hub_packaging, "CHECKOUT_MODULES", tmp_path / "no-checkout")
                assert main(["hub", "install", name]) == 0
        else:
            assert main(["hub", "install", name]) == 0
        installed = tmp_path / "hub" / "modules" / name.replace("-", "_") / "module.py"
        assert installed.read_text() == (ROOT / "hub_modules" / name / "module.py").read_text()

    import paddlehub as hub
    from paddle_wwm.tokenization import BertTokenizer

    encoded = BertTokenizer()(["北京欢迎你"], return_tensors="pd")
    for name, zoo_name in ZOO_MODULES.items():
        module = hub.Module(name=name)
        assert module.name == name and module.zoo_name == zoo_name
        pooled, sequence = module.get_embedding([["北京欢迎你"]])[0]
        reference = BertModel.from_pretrained(zoo_name)
        with paddle.no_grad():
            want_sequence, want_pooled = reference(encoded["input_ids"], encoded["token_type_ids"])
        np.testing.assert_allclose(pooled, want_pooled.numpy()[0], atol=1e-5)
        np.testing.assert_allclose(sequence, want_sequence.numpy()[0], atol=1e-5)


def test_embeddings_equal_transformers_on_a_converted_checkpoint(request, tmp_path, monkeypatch):
    """Weights from Hugging Face's layout, read by a module through the store: the module's
    embeddings are transformers' BertModel outputs, text by text, in a batch of mixed lengths."""
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    import torch
    import transformers

    from paddle_wwm import store
    from paddle_wwm.checkpoints import convert
    from paddle_wwm.integrations.hub_packaging import install
    from paddle_wwm.tokenization import DEFAULT_VOCAB_FILE

    torch.manual_seed(0)
    hf = randomize_torch_model(transformers.BertModel(transformers.BertConfig(**TINY)), seed=3).eval()
    hf.save_pretrained(tmp_path / "hf_model")
    convert(tmp_path / "hf_model", store.store_dir("chinese-roberta-wwm-ext"))
    install("chinese-roberta-wwm-ext")
    import paddlehub as hub

    module = hub.Module(name="chinese-roberta-wwm-ext")
    texts = ["北京欢迎你", "哈工大讯飞联合实验室发布了中文全词覆盖预训练模型。", "iPhone 15 售价 5999 元"]
    got = module.get_embedding([[t] for t in texts])
    hf_tokenizer = transformers.BertTokenizer(str(DEFAULT_VOCAB_FILE))
    for text, (pooled, sequence) in zip(texts, got):
        with torch.no_grad():
            out = hf(**hf_tokenizer(text, return_tensors="pt"))
        np.testing.assert_allclose(sequence, out.last_hidden_state[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(pooled, out.pooler_output[0].numpy(), atol=1e-5)


def test_seq_cls_predict_is_the_model_on_each_text(request, tmp_path, monkeypatch):
    """Batched, length-sorted prediction equals running our classifier on each text alone; the
    PaddleNLP tokenizer get_tokenizer gives (for PaddleHub's datasets) agrees with predict's."""
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    import paddle
    import paddle.nn.functional as F

    from paddle_wwm.integrations.hub_packaging import install
    from paddle_wwm.modeling import BertForSequenceClassification
    from paddle_wwm.tokenization import BertTokenizer

    store_random_model("rbt3", seed=1, make=lambda c: BertForSequenceClassification(c, num_classes=3))
    install("rbt3")
    import paddlehub as hub

    labels = {0: "neg", 1: "neutral", 2: "pos"}
    module = hub.Module(name="rbt3", task="seq-cls", num_classes=3, label_map=labels)
    pairs = [[a, b] for a, b in zip(REVIEWS, REVIEWS[1:] + REVIEWS[:1])]
    for data in ([[t] for t in REVIEWS], pairs):
        got_labels, got_probs = module.predict(data, max_seq_len=24, batch_size=4, return_prob=True)
        reference = BertForSequenceClassification.from_pretrained("rbt3")
        tokenizer = BertTokenizer()
        for item, label, probs in zip(data, got_labels, got_probs):
            encoded = tokenizer(*item, max_seq_len=24, return_tensors="pd")
            with paddle.no_grad():
                want = F.softmax(reference(encoded["input_ids"], encoded["token_type_ids"]), axis=-1).numpy()[0]
            np.testing.assert_allclose(probs, want, atol=1e-5)
            assert label == labels[int(np.argmax(want))]
    paddlenlp_tokenizer = module.get_tokenizer()
    for text in REVIEWS + ["iPhone 15 Pro Max，售价 9999 元！", "ＡＢＣ全角字符"]:
        assert paddlenlp_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]


def _write_tsv(directory, name, rows):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


def _datasets(task, tokenizer, base):
    from paddlehub.datasets.base_nlp_dataset import SeqLabelingDataset, TextClassificationDataset, TextMatchingDataset

    if task == "seq-cls":
        rows = [(str(i % 2), t) for i, t in enumerate(REVIEWS)]  # PaddleHub's order: label, text
        _write_tsv(base, "train.tsv", rows)
        return TextClassificationDataset(str(base), tokenizer, max_seq_len=32, mode="train", data_file="train.tsv",
                                         label_list=["0", "1"]), {0: "0", 1: "1"}
    if task == "text-matching":
        rows = [(a, b, str(i % 2)) for i, (a, b) in enumerate(zip(REVIEWS, REVIEWS[::-1]))]
        _write_tsv(base, "train.tsv", rows)
        return TextMatchingDataset(str(base), tokenizer, max_seq_len=32, mode="train", data_file="train.tsv",
                                   label_list=["0", "1"]), {0: "0", 1: "1"}
    tags = ["B-LOC", "I-LOC", "O"]
    rows = [("\002".join("我爱北京"), "\002".join(["O", "O", "B-LOC", "I-LOC"])),
            ("\002".join("上海很大"), "\002".join(["B-LOC", "I-LOC", "O", "O"]))] * 3
    _write_tsv(base, "train.tsv", rows)
    return SeqLabelingDataset(str(base), tokenizer, max_seq_len=16, mode="train", data_file="train.tsv",
                              label_list=tags), dict(enumerate(tags))


@pytest.mark.parametrize("task", ["seq-cls", "token-cls", "text-matching"])
def test_hub_trainer_fine_tunes_a_module_and_its_checkpoint_loads_back(task, request, tmp_path, monkeypatch):
    """PaddleHub's own datasets (over local files) and hub.Trainer: the loss falls, and
    hub.Module(..., load_checkpoint=<the Trainer's model.pdparams>) predicts as the trained module."""
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    import paddle

    from paddle_wwm.integrations.hub_packaging import install

    store_random_model("rbt3", seed=2, noise=False)
    install("rbt3")
    import paddlehub as hub

    module = hub.Module(name="rbt3", task=task, label_map={0: "x", 1: "y"} if task != "token-cls" else
                        {0: "B-LOC", 1: "I-LOC", 2: "O"})
    dataset, label_map = _datasets(task, module.get_tokenizer(), tmp_path / "data")
    module.label_map = label_map
    optimizer = paddle.optimizer.AdamW(learning_rate=5e-3, parameters=module.parameters())
    trainer = hub.Trainer(module, optimizer, checkpoint_dir=str(tmp_path / "ckpt"), use_vdl=False)
    losses = []
    batches = paddle.io.DataLoader(dataset, batch_size=len(dataset), shuffle=False)
    module.train()
    for step in range(40):
        for batch_idx, batch in enumerate(batches):
            result = module.training_step(batch, batch_idx)
            losses.append(float(result["loss"]))
            result["loss"].backward()
            optimizer.step()
            optimizer.clear_grad()
    assert losses[-1] < 0.5 * losses[0], losses
    expected_metrics = {"seq-cls": {"acc"}, "text-matching": {"acc"}, "token-cls": {"precision", "recall", "f1"}}
    assert set(result["metrics"]) == expected_metrics[task]
    trainer.train(dataset, epochs=1, batch_size=3, eval_dataset=dataset, save_interval=1, log_interval=1)
    saved = tmp_path / "ckpt" / "epoch_1" / "model.pdparams"
    assert saved.is_file() and (tmp_path / "ckpt" / "best_model" / "model.pdparams").is_file()

    data = {"seq-cls": [[t] for t in REVIEWS], "text-matching": [[a, b] for a, b in zip(REVIEWS, REVIEWS[::-1])],
            "token-cls": [["\002".join("我爱北京")], ["\002".join("上海很大")]]}[task]
    module.eval()
    _, want = module.predict(data, max_seq_len=32, batch_size=2, return_prob=True)
    reloaded = hub.Module(name="rbt3", task=task, label_map=label_map, load_checkpoint=str(saved))
    labels, got = reloaded.predict(data, max_seq_len=32, batch_size=2, return_prob=True)
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), atol=1e-6)
    # `hub serving` calls the method PaddleHub registers as the serving one: it gives predict's labels.
    assert getattr(reloaded, reloaded.serving_func_name)(data, max_seq_len=32, batch_size=2) == labels
    if task == "token-cls":
        assert [len(row) for row in labels] == [4, 4]  # one label per input token


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post_json(url: str, payload: dict, timeout: float = 30) -> dict:
    import json
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def test_hub_serving_answers_with_predict_over_http(request, tmp_path, monkeypatch):
    """`hub serving start -c config.json` (PaddleHub's own server, its config format: JSON label_map
    keys are strings) answers POST /predict/rbt3 with the labels predict gives in process; a bad
    request comes back as PaddleHub's error status with our message."""
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    import json
    import time
    import urllib.error

    from paddle_wwm.integrations.hub_packaging import install
    from paddle_wwm.modeling import BertForSequenceClassification

    store_random_model("rbt3", seed=4, make=lambda c: BertForSequenceClassification(c, num_classes=2))
    install("rbt3")
    port = _free_port()
    init_args = {"version": "0.1.0", "task": "seq-cls", "num_classes": 2, "label_map": {"0": "neg", "1": "pos"}}
    config = {"modules_info": {"rbt3": {"init_args": init_args, "predict_args": {"max_seq_len": 32, "batch_size": 4}}},
              "port": port, "use_multiprocess": False, "use_gpu": False}
    (tmp_path / "serving.json").write_text(json.dumps(config), encoding="utf-8")
    log = open(tmp_path / "serving.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("hub")), "serving", "start", "-c",
                               str(tmp_path / "serving.json")], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}/predict/rbt3"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                answer = _post_json(url, {"data": [[t] for t in REVIEWS]})
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "serving.log").read_text()[-3000:]
                time.sleep(1)
        import paddlehub as hub

        module = hub.Module(name="rbt3", task="seq-cls", num_classes=2, label_map={0: "neg", 1: "pos"})
        assert answer == {"status": "000", "msg": "", "results": module.predict([[t] for t in REVIEWS],
                                                                                 max_seq_len=32, batch_size=4)}
        bad = _post_json(url, {"data": [[REVIEWS[0], REVIEWS[1]], [REVIEWS[2]]]})
        assert bad["status"] == "101" and "do not mix single texts and pairs" in bad["msg"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_qa_module_returns_the_best_span_by_the_official_rule(request, tmp_path, monkeypatch):
    """One window: the answer is the span (start <= end, at most 30 tokens, inside the context)
    with the highest start + end logit, worked out here from the model's own logits."""
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    import paddle

    from paddle_wwm.integrations.hub_packaging import install
    from paddle_wwm.modeling import BertForQuestionAnswering
    from paddle_wwm.tokenization import BertTokenizer

    store_random_model("rbt3", seed=5, make=BertForQuestionAnswering)
    install("rbt3")
    import paddlehub as hub

    module = hub.Module(name="rbt3", task="qa")
    question, context = "谁是蜀汉的皇帝？", "刘备，字玄德，是蜀汉的开国皇帝。他在成都称帝。"
    (answer,) = module.predict([[question, context]], max_seq_len=64)
    tokenizer = BertTokenizer()
    encoded = tokenizer(question, context, return_offsets=True, return_tensors="pd")
    with paddle.no_grad():
        start_logits, end_logits = (t.numpy()[0] for t in module.model(encoded["input_ids"], encoded["token_type_ids"]))
    n_question = len(tokenizer.tokenize(question))
    context_positions = range(n_question + 2, encoded["input_ids"].shape[1] - 1)
    best = max(((s, e) for s in context_positions for e in context_positions if 0 <= e - s < 30),
               key=lambda se: start_logits[se[0]] + end_logits[se[1]])
    offsets = encoded["offset_mapping"].numpy()[0]
    assert answer["text"] == context[answer["start"]:answer["end"]]
    assert (answer["start"], answer["end"]) == (offsets[best[0]][0], offsets[best[1]][1])
    assert 0 < answer["probability"] <= 1

    # training_step: the mean of the start and end cross-entropies, and whether both argmaxes hit.
    targets = [paddle.to_tensor([best[0]]), paddle.to_tensor([best[1]])]
    result = module.training_step([encoded["input_ids"], encoded["token_type_ids"], *targets], 0)

    def nll(logits, index):
        return float(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[index])

    assert float(result["loss"]) == pytest.approx((nll(start_logits, best[0]) + nll(end_logits, best[1])) / 2,
                                                  rel=1e-5)
    hit = int(np.argmax(start_logits)) == best[0] and int(np.argmax(end_logits)) == best[1]
    assert result["metrics"] == {"span_acc": float(hit)}


def test_a_packaged_checkpoint_installs_and_takes_a_finetuned_checkpoint(request, tmp_path, monkeypatch):
    """`paddle-wwm hub package` + `hub install`: the module carries its weights; load_checkpoint
    also takes a checkpoint directory (what `paddle-wwm finetune` saves)."""
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    import paddle
    import paddle.nn.functional as F

    from paddle_wwm.cli import main
    from paddle_wwm.modeling import BertConfig, BertForPretraining, BertForSequenceClassification
    from paddle_wwm.tokenization import BertTokenizer

    randomize_paddle_model(BertForPretraining(BertConfig(**TINY)), seed=6).save_pretrained(tmp_path / "pretrained")
    finetuned = randomize_paddle_model(BertForSequenceClassification(BertConfig(**TINY), num_classes=2), seed=7).eval()
    finetuned.save_pretrained(tmp_path / "finetuned")
    assert main(["hub", "package", str(tmp_path / "pretrained"), str(tmp_path / "module"), "--name", "my-wwm"]) == 0
    assert main(["hub", "install", str(tmp_path / "module")]) == 0
    import paddlehub as hub

    module = hub.Module(name="my-wwm", task="seq-cls", num_classes=2, label_map={0: "negative", 1: "positive"},
                        load_checkpoint=str(tmp_path / "finetuned"))
    labels, probs = module.predict([[t] for t in REVIEWS], batch_size=3, return_prob=True)
    encoded = BertTokenizer()(REVIEWS, padding="longest", return_tensors="pd")
    with paddle.no_grad():
        want = F.softmax(finetuned(encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"]),
                         axis=-1).numpy()
    np.testing.assert_allclose(probs, want, atol=1e-5)
    assert labels == [["negative", "positive"][i] for i in want.argmax(-1)]


def test_bad_requests_are_named(request, tmp_path, monkeypatch, capsys):
    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    from paddle_wwm.cli import main
    from paddle_wwm.integrations.hub_packaging import HubModuleError, install
    from paddle_wwm.modeling import BertConfig, BertForSequenceClassification
    from paddle_wwm.zoo import ModelNotFoundError

    install("rbt6")
    import paddlehub as hub

    with pytest.raises(ModelNotFoundError, match="paddle-wwm import rbt6"):  # nothing in the store
        hub.Module(name="rbt6")
    store_random_model("rbt6", seed=8)
    with pytest.raises(HubModuleError, match=r"unknown task 'sentiment'; supported: None .*'qa'"):
        hub.Module(name="rbt6", task="sentiment")
    three = randomize_paddle_model(BertForSequenceClassification(BertConfig(**TINY), num_classes=3), seed=9)
    three.save_pretrained(tmp_path / "three")
    with pytest.raises(HubModuleError, match=r"three.*classifier has 3 classes but num_classes=2"):
        hub.Module(name="rbt6", task="seq-cls", num_classes=2, load_checkpoint=str(tmp_path / "three"))
    with pytest.raises(HubModuleError, match="label_map has 3 labels but num_classes=2"):
        hub.Module(name="rbt6", task="seq-cls", num_classes=2, label_map={0: "a", 1: "b", 2: "c"})
    with pytest.raises(HubModuleError, match=r"label_map keys must be the class indices 0..1, got \[1, 2\]"):
        hub.Module(name="rbt6", task="seq-cls", label_map={1: "a", 2: "b"})
    with pytest.raises(HubModuleError, match="token-cls' needs label_map"):
        hub.Module(name="rbt6", task="token-cls", num_classes=3)
    with pytest.raises(FileNotFoundError, match="no-such.pdparams"):
        hub.Module(name="rbt6", task="seq-cls", load_checkpoint=str(tmp_path / "no-such.pdparams"))
    assert hub.Module(name="rbt6", task="sequence_classification").task == "seq-cls"  # PaddleHub 2.0's name
    module = hub.Module(name="rbt6", task="text-matching")
    with pytest.raises(HubModuleError, match=r"data\[1\] must be \[query, title\]"):
        module.predict([["a", "b"], ["only one"]])
    with pytest.raises(HubModuleError, match="get_embedding needs task=None"):
        module.get_embedding([["a"]])
    with pytest.raises(HubModuleError, match=r"max_seq_len must be an int in 3..64 \(the model's positions\), "
                                             "got 128"):
        module.predict([["a", "b"]], max_seq_len=128)  # TINY has 64 positions
    (_, sequence), = hub.Module(name="rbt6").get_embedding([["北" * 100]])
    assert len(sequence) == 64  # unasked, max_seq_len is cut to the model's positions
    assert len(module.predict([["北" * 100, "京" * 100]])) == 1
    assert main(["hub", "install", "no-such-model"]) == 2
    assert "neither a module directory" in capsys.readouterr().err
    assert main(["hub", "package", str(tmp_path / "three"), str(tmp_path / "m"), "--name", "bad name"]) == 2
    assert "module name 'bad name'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()

"""The README's Python blocks run as users type them, top to bottom in one session, and do what
their comments say.

No released weights can be downloaded here, so the setting the README asks for first is made
with small random checkpoints: the model store holds rbt3 and chinese-roberta-wwm-ext (hidden 32,
4 layers, 512 positions); the README's own commands install their hub modules and export a
classifier to out/task; PaddleHub's dataset home holds a small ChnSentiCorp made of the shipped
reviews (what hub.datasets.ChnSentiCorp would download); a CMRC 2018 reader sits where
`paddle-wwm finetune` puts one. Everything else in the blocks is the README's text, unchanged.
"""
import re
import pytest
import sys
from pathlib import Path

import numpy as np

from conftest import TINY, randomize_paddle_model, ran_in_fresh_process

ROOT = Path(__file__).resolve().parents[1]
STORE_CONFIG = dict(TINY, num_hidden_layers=4, max_position_embeddings=512)
QA_CHECKPOINT = "output/finetune/cmrc2018/chinese-roberta-wwm-ext/seed-1/model"


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"),
                      re.MULTILINE | re.DOTALL)


def readme_command(start: str) -> list[str]:
    """The arguments of the README's first shell line that starts with ``start``, comment cut."""
    for block in readme_blocks("bash"):
        for line in block.splitlines():
            if line.startswith(start):
                return line.split("#")[0].split()[1:]
    raise AssertionError(f"no README command starts with {start!r}")


def the_readme_setting(tmp_path, monkeypatch):
    from paddle_wwm import store
    from paddle_wwm.cli import main
    from paddle_wwm.finetuning.sample_data import write_sentiment_reviews
    from paddle_wwm.modeling import (BertConfig, BertForPretraining, BertForQuestionAnswering,
                                     BertForSequenceClassification)

    config = BertConfig(**STORE_CONFIG)
    for seed, name in enumerate(("rbt3", "chinese-roberta-wwm-ext")):
        randomize_paddle_model(BertForPretraining(config), seed=seed).save_pretrained(store.store_dir(name))
    randomize_paddle_model(BertForSequenceClassification(config), seed=2).save_pretrained(tmp_path / "classifier")
    randomize_paddle_model(BertForQuestionAnswering(config), seed=3).save_pretrained(tmp_path / QA_CHECKPOINT)
    write_sentiment_reviews(tmp_path / "hub" / "dataset" / "chnsenticorp", train=64, dev=32)
    monkeypatch.chdir(tmp_path)
    for name in ("chinese-roberta-wwm-ext", "rbt3"):
        assert main(["hub", "install", name]) == 0
    assert main(["export", str(tmp_path / "classifier"), "out/task", "--format", "taskflow"]) == 0
    prepare = readme_command("paddle-wwm prepare")  # the shipped corpus, into data/sanguo
    prepare[prepare.index("--corpus") + 1] = str(ROOT / prepare[prepare.index("--corpus") + 1])
    assert main(prepare) == 0


@pytest.mark.slow  # over 30 s on 2 cores
def test_the_readme_python_blocks_run_as_typed(request, tmp_path, monkeypatch):
    if ran_in_fresh_process(request):
        return
    assert "paddlehub" not in sys.modules  # PaddleHub fixes HUB_HOME when it is imported
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    the_readme_setting(tmp_path, monkeypatch)
    blocks = readme_blocks("python")
    assert len(blocks) == 5, "a README python block was added or removed: run it here too"
    session = {}
    for index, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {index}", "exec"), session)

    # The one-liners and the library block.
    assert session["module"].task == "seq-cls" and session["module"].num_classes == 2
    results = session["classify"](["很好", "太差了"])
    assert [r["text"] for r in results] == ["很好", "太差了"]
    assert {r["predictions"][0]["label"] for r in results} <= {"negative", "positive"}
    longest = len(session["tokenizer"].tokenize("使用语言模型来预测下一个词的概率。")) + 2  # [CLS] ... [SEP]
    assert list(session["sequence_output"].shape) == [2, longest, 32]
    assert len(session["rbt3_init"].layers) == session["rbt3_init"].config.num_hidden_layers == 3
    # The whole-word-masking batch: 32 sequences of 128, 20 masked positions each at most.
    batch = session["batch"]
    assert np.asarray(batch["input_ids"]).shape == (32, 128) and np.asarray(batch["masked_labels"]).shape == (32, 20)
    # hub.Trainer's best model (the epoch with the best dev accuracy) is what `best` holds.
    import paddle

    saved = paddle.load(str(tmp_path / "ckpt" / "best_model" / "model.pdparams"))
    own = session["best"].state_dict()
    assert set(saved) == set(own)
    for name, value in saved.items():
        np.testing.assert_array_equal(own[name].numpy(), value.numpy(), err_msg=name)
    labels = session["best"].predict([["这家酒店的服务很好"], ["太差了，再也不会来"]])
    assert len(labels) == 2 and set(labels) <= {0, 1}

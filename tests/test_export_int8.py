"""`paddle-wwm export --format onnx --precision int8 [--calibration FILE]`: ONNX Runtime's
post-training quantization of our ONNX export gives the fp32 export's labels and nearly its
logits; requests it cannot serve are refused before anything is written.

Tolerance: the model is a tiny classifier whose every tensor is noise of std 0.2 (a mis-mapped
weight cannot hide), so its activations are wide and its logits spread over about +-0.4. int8
rounds each MatMul's weights to 1/254 and its inputs to 1/255 of their range; over two layers of
four GEMMs plus pooler and head the logits move by up to ~7% of their largest magnitude here
(measured 6.5% dynamic, 8% static). The bound, 15% of the largest fp32 logit at the worst
position and 7% on average, leaves room for other CPUs' kernels (u8s8 GEMMs without VNNI
saturate in places) while failing a model whose weights were quantized wrongly (a wrong scale
moves logits by their whole size). Labels must agree on at least 45 of 48 texts: a logit gap
smaller than the error can flip a near-tie, a broken model flips half.
"""
import json

import numpy as np
import pytest

from conftest import TINY, randomize_paddle_model, ran_in_fresh_process, require_reference
from paddle_wwm.cli import main
from paddle_wwm.modeling import BertConfig, BertForSequenceClassification

INPUTS = ("input_ids", "token_type_ids", "attention_mask")
MAX_ERROR_OF_LARGEST_LOGIT, MEAN_ERROR_OF_LARGEST_LOGIT = 0.15, 0.07


def review_texts():
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "paddle_wwm" / "data"
    pos = [t.strip() for t in (data / "sentiment_pos.txt").read_text("utf-8").splitlines() if t.strip()]
    neg = [t.strip() for t in (data / "sentiment_neg.txt").read_text("utf-8").splitlines() if t.strip()]
    return [text for pair in zip(pos, neg) for text in pair]


def saved_classifier(tmp_path):
    model = randomize_paddle_model(BertForSequenceClassification(BertConfig(**TINY), num_classes=2), seed=3)
    model.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def onnx_logits(model_file, texts):
    ort = require_reference("onnxruntime")
    from paddle_wwm.tokenization import BertTokenizer

    encoded = BertTokenizer()(texts, max_seq_len=64, padding="longest", return_tensors="np")
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    return session.run(None, {name: encoded[name].astype(np.int64) for name in INPUTS})[0]


@pytest.mark.parametrize("calibration", [None, "tsv"], ids=["dynamic", "static-calibrated"])
def test_int8_onnx_export_gives_the_fp32_labels_and_nearly_its_logits(calibration, tmp_path, request):
    if ran_in_fresh_process(request):
        return
    onnx = require_reference("onnx")
    src = saved_classifier(tmp_path)
    texts = review_texts()
    calibration_texts, test_texts = texts[:24], texts[100:148]
    args = []
    if calibration:  # ChnSentiCorp's layout: a header naming text_a, the label first
        rows = [f"{i % 2}\t{text}" for i, text in enumerate(calibration_texts)]
        (tmp_path / "calibration.tsv").write_text("label\ttext_a\n" + "\n".join(rows) + "\n", encoding="utf-8")
        args = ["--calibration", str(tmp_path / "calibration.tsv")]
    assert main(["export", str(src), str(tmp_path / "fp32"), "--format", "onnx"]) == 0
    assert main(["export", str(src), str(tmp_path / "int8"), "--format", "onnx", "--precision", "int8", *args]) == 0

    config = json.loads((tmp_path / "int8" / "config.json").read_text())
    assert config["precision"] == "int8"
    assert config["quantization"]["method"].startswith("onnxruntime quantize_" + ("static" if calibration else "dynamic"))
    assert sorted(p.name for p in (tmp_path / "int8").iterdir()) == ["config.json", "model.onnx", "vocab.txt"]
    nodes = onnx.load(str(tmp_path / "int8" / "model.onnx")).graph.node
    # every weight GEMM runs on int8 weights: the head and pooler too (2 layers x 4 + 2 = 10)
    quantized = [n for n in nodes if n.op_type == ("QuantizeLinear" if calibration else "MatMulInteger")]
    assert len(quantized) >= 10, sorted({n.op_type for n in nodes})

    fp32 = onnx_logits(tmp_path / "fp32" / "model.onnx", test_texts)
    int8 = onnx_logits(tmp_path / "int8" / "model.onnx", test_texts)
    scale = np.abs(fp32).max()
    error = np.abs(int8 - fp32)
    assert 0 < error.max() <= MAX_ERROR_OF_LARGEST_LOGIT * scale, (error.max(), scale)
    assert error.mean() <= MEAN_ERROR_OF_LARGEST_LOGIT * scale, (error.mean(), scale)
    assert (int8.argmax(-1) == fp32.argmax(-1)).sum() >= 45


def test_int8_export_refuses_what_it_cannot_do(tmp_path, capsys):
    src = saved_classifier(tmp_path)
    out = tmp_path / "out"

    def refused(*args) -> str:
        assert main(["export", str(src), str(out), *args]) == 2
        assert not out.exists()
        return capsys.readouterr().err

    assert "--precision int8 is for --format onnx" in refused("--format", "taskflow", "--precision", "int8")
    assert "Paddle 3 exports PIR programs" in refused("--format", "inference", "--precision", "int8")
    missing = tmp_path / "no-such-file.txt"
    assert f"{missing}: calibration file not found" in refused("--format", "onnx", "--precision", "int8",
                                                               "--calibration", str(missing))
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    assert f"{tmp_path / 'empty.txt'}: calibration file has no texts" in refused(
        "--format", "onnx", "--precision", "int8", "--calibration", str(tmp_path / "empty.txt"))
    (tmp_path / "header-only.tsv").write_text("label\ttext_a\n", encoding="utf-8")
    assert "calibration file has no texts" in refused("--format", "onnx", "--precision", "int8",
                                                      "--calibration", str(tmp_path / "header-only.tsv"))
    (tmp_path / "texts.txt").write_text("很好\n", encoding="utf-8")
    assert "--calibration is for --precision int8" in refused("--format", "onnx", "--calibration",
                                                              str(tmp_path / "texts.txt"))


def test_calibration_texts_are_lines_or_a_text_a_column(tmp_path):
    from paddle_wwm.integrations.quantize import read_calibration_texts

    (tmp_path / "lines.txt").write_text("第一句\n\n 第二句 \n", encoding="utf-8")
    assert read_calibration_texts(tmp_path / "lines.txt") == ["第一句", "第二句"]
    (tmp_path / "data.tsv").write_text('label\ttext_a\n1\t好"吃"\n0\t难吃\n', encoding="utf-8")
    assert read_calibration_texts(tmp_path / "data.tsv") == ['好"吃"', "难吃"]

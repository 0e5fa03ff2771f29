"""`paddle-wwm export`: a Paddle Inference export gives the dygraph model's outputs; bad requests
are named. (The Taskflow export is tested end to end in test_finetuning.py.)"""
import numpy as np
import paddle
import pytest

from conftest import TINY, padded_batch, ran_in_fresh_process, randomize_paddle_model
from paddle_wwm import runtime
from paddle_wwm.cli import main
from paddle_wwm.integrations.export import inference_model_file
from paddle_wwm.modeling import BertConfig, BertForPretraining, BertForQuestionAnswering, BertForSequenceClassification


@pytest.mark.parametrize("make", [
    lambda config: BertForSequenceClassification(config, num_classes=3),
    lambda config: BertForQuestionAnswering(config, answer_types=4),  # CJRC's head comes along
])
def test_inference_export_gives_the_dygraph_outputs(make, tmp_path, request):
    if ran_in_fresh_process(request):
        return
    model = randomize_paddle_model(make(BertConfig(**TINY)), seed=4).eval()
    model.save_pretrained(tmp_path / "model")
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "exported"), "--format", "inference"]) == 0
    assert (tmp_path / "exported" / "vocab.txt").is_file() and (tmp_path / "exported" / "config.json").is_file()
    batch = padded_batch(seed=5)
    with paddle.no_grad():
        expected = model(*(paddle.to_tensor(a) for a in batch))
    expected = [t.numpy() for t in (expected if isinstance(expected, (tuple, list)) else [expected])]
    import paddle.inference as paddle_infer

    predictor = paddle_infer.create_predictor(runtime.inference_config(
        inference_model_file(tmp_path / "exported"), str(tmp_path / "exported" / "inference.pdiparams")))
    for name, value in zip(predictor.get_input_names(), batch):
        handle = predictor.get_input_handle(name)
        handle.reshape(list(value.shape))
        handle.copy_from_cpu(value)
    predictor.run()
    outputs = [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_export_refuses_what_it_cannot_do(tmp_path, capsys):
    BertForPretraining(BertConfig(**TINY)).save_pretrained(tmp_path / "pretraining")
    assert main(["export", str(tmp_path / "pretraining"), str(tmp_path / "x"), "--format", "inference"]) == 2
    assert "a BertForPretraining cannot be exported for inference" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("earlier results")
    assert main(["export", str(tmp_path / "pretraining"), str(tmp_path / "busy"), "--format", "taskflow"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "earlier results"

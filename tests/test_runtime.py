"""CPU runtime settings and the static/oneDNN paths: they change speed, never the numbers
(fp32 within 1e-5 of dygraph; bf16 within a stated tolerance)."""
import os

import numpy as np
import paddle
import pytest

from conftest import padded_batch, ran_in_fresh_process, randomize_paddle_model
from paddle_wwm import BertConfig, BertModel, runtime


def test_configure_cpu_sets_paddles_thread_count():
    applied = runtime.configure_cpu(1)
    assert applied["num_threads"] == 1
    applied = runtime.configure_cpu(2)
    assert applied["num_threads"] == 2
    report = runtime.cpu_report()
    if report["vendor"] == "AuthenticAMD" and report["avx2"] and "mkl_version" in report:
        # MKL 2019 on AMD: the generic SSE2 path is 0; MKL_DEBUG_CPU_TYPE=5 selects AVX2 (5)
        assert os.environ.get("MKL_DEBUG_CPU_TYPE") == "5"
        assert report["mkl_cpu_path"] >= 5


def test_user_choice_of_mkl_cpu_type_wins(monkeypatch):
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "4")
    assert runtime.apply_mkl_amd_fix() is False
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "4"


@pytest.fixture
def model(tiny_config_dict):
    return randomize_paddle_model(BertModel(BertConfig(**tiny_config_dict)), seed=9).eval()


def dygraph(model, batch):
    with paddle.no_grad():
        return model(*(paddle.to_tensor(a) for a in batch[:1]), token_type_ids=paddle.to_tensor(batch[1]),
                     attention_mask=paddle.to_tensor(batch[2]))[0].numpy()


def test_static_onednn_fp32_equals_dygraph(model, request):
    if ran_in_fresh_process(request):
        return
    batch = padded_batch(seed=1)
    run = runtime.cpu_static(model, "fp32")
    static = run(*(paddle.to_tensor(a) for a in batch[:1]), token_type_ids=paddle.to_tensor(batch[1]),
                 attention_mask=paddle.to_tensor(batch[2]))[0].numpy()
    assert np.abs(static - dygraph(model, batch)).max() <= 1e-5


@pytest.mark.skipif(not runtime.bf16_supported(), reason="CPU without AVX512-BF16/AMX: no bf16 path to test")
def test_static_bf16_is_close_to_fp32(model, request):
    if ran_in_fresh_process(request):
        return
    batch = padded_batch(seed=2)
    run = runtime.cpu_static(model, "bf16")
    out = run(*(paddle.to_tensor(a) for a in batch[:1]), token_type_ids=paddle.to_tensor(batch[1]),
              attention_mask=paddle.to_tensor(batch[2]))[0].astype("float32").numpy()
    reference = dygraph(model, batch)
    # LayerNorm'd outputs are O(1); bf16 keeps 8 bits of mantissa (relative step 2^-8 = 0.004)
    assert np.abs(out - reference).max() < 0.1
    assert np.abs(out - reference).mean() < 0.02
    assert np.abs(out - reference).max() > 0  # it really ran in bf16


def test_paddle_inference_export_equals_dygraph(tmp_path, model, request):
    if ran_in_fresh_process(request):
        return
    from paddle.static import InputSpec

    prefix = str(tmp_path / "model")
    specs = [InputSpec([None, None], "int64", "input_ids"), InputSpec([None, None], "int64", "token_type_ids"),
             InputSpec([None, None], "int64", "attention_mask")]
    paddle.jit.save(model, prefix, input_spec=specs)
    import paddle.inference as paddle_infer

    model_file = prefix + ".json" if os.path.exists(prefix + ".json") else prefix + ".pdmodel"
    predictor = paddle_infer.create_predictor(runtime.inference_config(model_file, prefix + ".pdiparams"))
    batch = padded_batch(seed=3)
    for name, value in zip(predictor.get_input_names(), batch):
        handle = predictor.get_input_handle(name)
        handle.reshape(list(value.shape))
        handle.copy_from_cpu(value)
    predictor.run()
    out = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    assert np.abs(out - dygraph(model, batch)).max() <= 1e-5

"""CPU runtime settings and the static/oneDNN paths: they change speed, never the numbers
(fp32 within 1e-5 of dygraph; bf16 within a stated tolerance). Importing the package changes no
process state; building a model applies the settings, unless the user opted out."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from conftest import TINY, padded_batch, ran_in_fresh_process, randomize_paddle_model
from cpu_state import malloc_mmaps_large_blocks, paddle_thread_counts
from paddle_wwm import BertConfig, BertModel, runtime

TESTS = Path(__file__).parent
# Variables the suite's own process has changed (paddle sets OMP_NUM_THREADS, configure_cpu
# MKL_DEBUG_CPU_TYPE): a fresh process must start from a user's environment instead.
_SET_BY_THIS_PROCESS = ("OMP_NUM_THREADS", "MKL_DEBUG_CPU_TYPE", "PADDLE_WWM_NUM_THREADS", "PADDLE_WWM_CONFIGURE_CPU")


def run_fresh(code: str, **env) -> str:
    """stdout of `code` run by a fresh Python with the tests directory on its path."""
    base = {k: v for k, v in os.environ.items() if k not in _SET_BY_THIS_PROCESS}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_importing_the_package_imports_no_paddle_and_changes_no_process_state():
    code = """
import json, os, sys, threading
environ = dict(os.environ)
import paddle_wwm
from paddle_wwm import BertTokenizer, __version__
from paddle_wwm.segmentation import get_segmenter, segment_parallel
from paddle_wwm.wwm.dataset import WWMCollator, WWMConfig, WWMDataset
from paddle_wwm.wwm.prepare import PrepareSettings, prepare
from paddle_wwm.wwm.chinese_ref import write_chinese_ref
from paddle_wwm.parallel import OrderedPool
from cpu_state import loaded_libraries, malloc_mmaps_large_blocks
libraries = loaded_libraries()
print(json.dumps({"paddle": sorted(m for m in sys.modules if m.split(".")[0] == "paddle"),
                  "environ_changed": sorted(k for k in {*environ, *os.environ} if environ.get(k) != os.environ.get(k)),
                  "threads": threading.active_count(),
                  "paddle_libraries": sorted(l for l in libraries if "iomp" in l or "mkl" in l or "paddle" in l),
                  "malloc_mmaps": malloc_mmaps_large_blocks()}))
"""
    state = json.loads(run_fresh(code))
    assert state["paddle"] == []
    assert state["environ_changed"] == []
    assert state["threads"] == 1
    assert state["paddle_libraries"] == []  # so no OpenMP/MKL thread setting either
    assert state["malloc_mmaps"] in (True, None)  # glibc's default: mallopt was not called


@pytest.mark.parametrize("user_env, expect", [
    ({}, "usable cpus"),
    ({"OMP_NUM_THREADS": "1"}, 1),  # "1" is paddle's own default too: the user's must still win
    ({"PADDLE_WWM_CONFIGURE_CPU": "0"}, "paddle's defaults"),
])
def test_building_a_model_applies_the_cpu_settings_unless_opted_out(user_env, expect):
    code = f"""
import json, os
from paddle_wwm import BertConfig, BertModel
from cpu_state import malloc_mmaps_large_blocks, paddle_thread_counts
BertModel(BertConfig(**{TINY!r}))
print(json.dumps({{"threads": paddle_thread_counts(), "malloc_mmaps": malloc_mmaps_large_blocks(),
                  "mkl_cpu_type": os.environ.get("MKL_DEBUG_CPU_TYPE")}}))
"""
    state = json.loads(run_fresh(code, **user_env))
    if state["threads"] is None:
        pytest.skip("a paddle build without libiomp5/MKL: no thread count to read back")
    omp_threads = state["threads"][0]
    if expect == "paddle's defaults":
        assert omp_threads == 1
        assert state["malloc_mmaps"] in (True, None)
        assert state["mkl_cpu_type"] is None
        return
    assert omp_threads == (runtime._usable_cpus() if expect == "usable cpus" else expect)
    assert state["malloc_mmaps"] in (False, None)


def test_a_process_started_after_building_a_model_chooses_its_own_thread_count():
    """`import paddle` writes OMP_NUM_THREADS=1 into an unset variable; a child started after the
    CPU settings were applied must not inherit it as if the user had asked for one thread."""
    code = f"""
import os, subprocess, sys
from paddle_wwm import BertConfig, BertModel
BertModel(BertConfig(**{TINY!r}))
child = "import paddle_wwm.runtime as r, paddle; print(r.default_num_threads(), os.environ.get('OMP_NUM_THREADS'))"
print(subprocess.run([sys.executable, "-c", "import os; " + child], capture_output=True, text=True,
                     check=True).stdout.strip())
"""
    threads, omp = run_fresh(code).split()
    assert int(threads) == runtime._usable_cpus()  # an inherited "1" would read as the user's choice
    assert omp == "1"  # the child's own paddle import wrote it; its choice above came first


def test_configure_cpu_sets_paddles_thread_count(tiny_config_dict):
    applied = runtime.configure_cpu(1)
    assert applied["num_threads"] == 1
    counts = paddle_thread_counts()
    assert counts in ((1, 1), None)  # as Paddle's OpenMP and MKL report it
    BertModel(BertConfig(**tiny_config_dict))  # an explicit count survives building a model
    assert paddle_thread_counts() == counts
    applied = runtime.configure_cpu(2)
    assert applied["num_threads"] == 2
    if counts is not None:
        omp, mkl = paddle_thread_counts()
        assert omp == 2
        assert mkl == min(2, len(os.sched_getaffinity(0)))  # MKL caps at the cores it finds
    assert malloc_mmaps_large_blocks() in (False, None)
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


@pytest.mark.parametrize("flags, bf16, vnni", [
    ({"avx2", "fma"}, "avx512_bf16 or amx_bf16", "avx512_vnni or avx_vnni or amx_int8"),  # AVX2-only EPYC
    ({"avx2", "avx512f", "avx512_vnni"}, "avx512_bf16 or amx_bf16", None),  # Cascade Lake
    ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}, None, None),  # Sapphire Rapids
    ({"avx2", "avx_vnni"}, "avx512_bf16 or amx_bf16", None),  # Alder Lake: VNNI without AVX-512
])
def test_missing_instruction_sets_are_named_per_path(flags, bf16, vnni, monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: ("GenuineIntel", set(flags)))
    assert runtime.missing_for("bf16") == bf16
    assert runtime.missing_for("int8-vnni") == vnni
    assert runtime.isa_flags()["avx2"] and runtime.isa_flags()["avx512f"] == ("avx512f" in flags)

"""benchmarks/serve_load.py: the load client's accounting, and a short run against `hub serving`
(our module, a tiny model) in which every good request gets predict's labels and every malformed
one an error."""
import json
import sys
from pathlib import Path

import pytest
from conftest import TINY, ran_in_fresh_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import serve_load  # noqa: E402


def test_requests_are_bounded_and_a_tenth_malformed():
    requests = serve_load.make_requests(200, [f"句子{i}" for i in range(50)], seed=1)
    assert len(requests) == 200
    assert sum(r["texts"] is None for r in requests) == 20
    assert {r["kind"] for r in requests if r["texts"] is None} == set(serve_load.MALFORMED_KINDS)
    assert all(1 <= len(r["texts"]) <= 16 for r in requests if r["texts"])
    good = next(r for r in requests if r["texts"])
    assert json.loads(good["body"]) == {"data": [[t] for t in good["texts"]]}


def test_accounting_counts_each_kind_of_outcome():
    requests = [{"texts": ["好"], "kind": "good"}, {"texts": ["差", "好"], "kind": "good"},
                {"texts": ["差"], "kind": "good"}, {"texts": None, "kind": "no data"},
                {"texts": None, "kind": "not JSON"}, {"texts": ["好"], "kind": "good"}]
    expected = {"好": "positive", "差": "negative"}
    outcomes = [(0.010, 200, {"status": "000", "msg": "", "results": ["positive"]}),
                (0.020, 200, {"status": "000", "msg": "", "results": ["negative", "positive"]}),
                (0.030, 200, {"status": "000", "msg": "", "results": ["positive"]}),  # wrong label
                (0.040, 200, {"status": "000", "msg": "", "results": []}),  # malformed, yet accepted
                (0.050, 400, None),  # malformed, HTTP error: an error answer
                (0.060, None, {"transport_error": "ConnectionResetError: reset"})]
    row = serve_load.account(requests, outcomes, expected, wall=2.0)
    assert (row["good_answered_right"], row["good_answered_wrong"], row["malformed_accepted"],
            row["malformed_got_error"], row["transport_errors"], row["good_got_error"]) == (2, 1, 1, 1, 1, 0)
    assert row["all_correct"] is False
    assert row["requests_per_second"] == 3.0 and row["texts_per_second"] == 1.5  # 3 texts answered right in 2 s
    assert row["latency_ms_p50"] == 35.0 and row["latency_ms_p99"] == 60.0


def test_a_short_load_run_against_hub_serving_is_all_correct(request):
    if ran_in_fresh_process(request):
        return
    config = {k: TINY[k] for k in ("hidden_size", "num_attention_heads", "intermediate_size")}
    results = serve_load.run(["ours"], count=20, clients=4, config=config)
    row = results["ours"]
    assert row["requests"] == 20 and row["transport_errors"] == 0, row
    assert row["malformed_got_error"] == 2 and row["malformed_accepted"] == 0, row
    assert row["good_answered_right"] == 18 and row["all_correct"], row
    assert row["latency_ms_p99"] >= row["latency_ms_p50"] > 0


@pytest.mark.slow
def test_a_short_load_run_against_gunicorn_workers_with_batching_is_all_correct(request):
    """`use_multiprocess` (gunicorn workers forked from the process that built the module) with
    batching: the workers pass requests to that process; answers as without batching."""
    if ran_in_fresh_process(request):
        return
    config = {k: TINY[k] for k in ("hidden_size", "num_attention_heads", "intermediate_size")}
    results = serve_load.run(["ours-workers-batching"], count=20, clients=4, config=config, workers=2)
    row = results["ours-workers-batching"]
    assert row["requests"] == 20 and row["transport_errors"] == 0, row
    assert row["malformed_got_error"] == 2 and row["malformed_accepted"] == 0, row
    assert row["good_answered_right"] == 18 and row["all_correct"], row

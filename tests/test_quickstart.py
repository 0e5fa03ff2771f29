"""The quickstart. Its serving stages (4: PaddleHub module by name, 5: Taskflow) on small random
models: the hub module predicts what the fine-tuned classifier predicts, and Taskflow agrees with
it on every review. Then the whole `paddle-wwm quickstart` as `make quickstart` runs it, twice."""
import sys
import pytest

import numpy as np

from conftest import TINY, randomize_paddle_model, ran_in_fresh_process


def test_hub_and_taskflow_stages_serve_the_fine_tuned_model(request, tmp_path, monkeypatch, capsys):
    if ran_in_fresh_process(request):
        return
    assert "paddlehub" not in sys.modules
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "hub"))
    import paddle

    from paddle_wwm import quickstart
    from paddle_wwm.finetuning.readers import read_examples
    from paddle_wwm.finetuning.sample_data import write_sentiment_reviews
    from paddle_wwm.modeling import BertConfig, BertForPretraining, BertForSequenceClassification
    from paddle_wwm.tokenization import BertTokenizer

    randomize_paddle_model(BertForPretraining(BertConfig(**TINY)), seed=1).save_pretrained(tmp_path / "pretrained")
    classifier = randomize_paddle_model(BertForSequenceClassification(BertConfig(**TINY)), seed=2).eval()
    classifier.save_pretrained(tmp_path / "finetuned")
    dev_file = write_sentiment_reviews(tmp_path / "reviews", train=10, dev=40) / "dev.tsv"

    hub_labels, hub_result = quickstart.serve_as_hub_module(tmp_path, tmp_path / "pretrained",
                                                            tmp_path / "finetuned", dev_file)
    examples = read_examples("chnsenticorp", dev_file).examples
    encoded = BertTokenizer()([e.text_a for e in examples], max_seq_len=64, padding="longest", return_tensors="pd")
    with paddle.no_grad():
        logits = classifier(encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"]).numpy()
    want = [quickstart.SENTIMENT_LABELS[i] for i in np.argmax(logits, axis=-1)]
    assert hub_labels == want
    accuracy = 100 * np.mean([label == quickstart.SENTIMENT_LABELS[e.label] for label, e in zip(want, examples)])
    assert f"dev accuracy {accuracy:.1f}%" in hub_result
    assert (tmp_path / "hub" / "modules" / quickstart.HUB_MODULE_NAME.replace("-", "_") / "weights").is_dir()

    _, taskflow_result = quickstart.serve_with_taskflow(tmp_path, tmp_path / "pretrained", tmp_path / "finetuned",
                                                        dev_file, hub_labels)
    assert f"agrees with the hub module on {len(examples)}/{len(examples)} dev reviews" in taskflow_result
    assert "fill_mask top-3" in taskflow_result


@pytest.mark.slow  # over 30 s on 2 cores
def test_the_whole_quickstart_runs_and_a_second_run_reuses_its_stages(tmp_path):
    """`paddle-wwm quickstart` as `make quickstart` runs it (fewer pre-training steps): every stage
    reports, the fine-tuned model beats chance on the dev reviews, the random-initialisation
    baseline (3b) stands beside it, the hub module and Taskflow agree on all of them; run again, it
    reuses prepare, pre-training and both fine-tunings."""
    import json
    import os
    import subprocess
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "HUB_HOME"}  # the quickstart's own OUT/hub-home
    command = [str(Path(sys.executable).with_name("paddle-wwm")), "quickstart", "--out", str(tmp_path / "qs"),
               "--steps", "20"]
    for run in ("first", "second"):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        report = json.loads((tmp_path / "qs" / "report.json").read_text())
        stages = {s["name"].split()[0]: s["result"] for s in report["stages"]}
        assert sorted(stages) == ["0", "1", "2", "3", "3b", "4", "5"]
        reused = [name for name, result in stages.items() if "(reused" in result]
        assert reused == ([] if run == "first" else ["1", "2", "3", "3b"]), stages
        assert "20 steps, loss" in stages["2"]
        accuracy = float(stages["3"].split("dev accuracy ")[1].split("%")[0])
        assert accuracy > 60.0, stages["3"]  # 400 balanced reviews: chance is 50%
        baseline = float(stages["3b"].split("from random weights: dev accuracy ")[1].split("%")[0])
        assert baseline > 60.0, stages["3b"]
        assert f"(pre-trained {accuracy:.1f}%, " in stages["3b"] and " points from pre-training)" in stages["3b"]
        assert f"dev accuracy {accuracy:.1f}%" in stages["4"]  # the hub module scores what fine-tuning did
        assert "agrees with the hub module on 400/400 dev reviews" in stages["5"]
    assert (tmp_path / "qs" / "hub-home" / "modules" / "wwm_quickstart_tiny" / "weights").is_dir()

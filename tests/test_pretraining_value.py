"""benchmarks/pretraining_value.py --quick: every stage runs on a few steps and examples; the
table has a row per initialisation and a dev and test cell per label count, each row from its own
fine-tuning runs (different starting weights, different training losses)."""
from benchmark_run import run_quick


def test_quick_benchmark_computes_every_row(tmp_path):
    record, stdout = run_quick("pretraining_value.py", tmp_path / "results.json")
    assert record["quick"] is True
    assert record["corpus"]["removed_dev_test_texts"] > 0  # the shipped reviews hold ChnSentiCorp texts
    lines = record["table"].splitlines()
    assert lines[0] == ("| initialisation | 32 labels dev | 32 labels test | 64 labels dev | 64 labels test |")
    rows = [line.split(" | ") for line in lines[2:]]
    assert [r[0] for r in rows] == ["| whole word masking pre-trained", "| character masking pre-trained",
                                    "| random initialisation"]
    assert all(len(r) == 5 for r in rows) and all("(" in c for r in rows for c in r[1:])
    assert record["table"] in stdout
    wwm, char = record["pretraining"]["wwm"]["curve"], record["pretraining"]["char"]["curve"]
    assert wwm[-1]["step"] == char[-1]["step"] == 4 and wwm != char  # other masks, other losses
    for setting in ("32 labels", "64 labels"):
        losses = {init: tuple(run["first"] for run in record["results"][init][setting]["train_loss"])
                  for init in ("wwm", "char", "random")}
        assert all(len(v) == 2 for v in losses.values())  # two seeds each
        assert len(set(losses.values())) == 3, losses  # three different starting points


def test_quick_steps_benchmark_fine_tunes_each_kept_checkpoint(tmp_path):
    """benchmarks/pretraining_steps.py --quick: one run, its checkpoints at steps 2 and 4 and the
    random start each fine-tuned from their own weights."""
    record, _ = run_quick("pretraining_steps.py", tmp_path / "steps.json")
    assert record["complete"] and list(record["results"]) == ["0", "2", "4"]
    rows = [line.split(" | ")[0] for line in record["table"].splitlines()[2:]]
    assert rows == ["| random initialisation", "| 2", "| 4"]
    curve = {r["step"]: r["loss"] for r in record["pretraining"]["curve"]}
    assert [record["results"][s]["mlm_loss"] for s in ("2", "4")] == [curve[2], curve[4]]
    first_losses = {s: tuple(run["first"] for run in record["results"][s]["train_loss"]) for s in ("0", "2", "4")}
    assert len(set(first_losses.values())) == 3, first_losses  # three different starting weights

"""Every benchmark task end to end through the fine-tuning runner, on the real files at hand.

    python benchmarks/run_tasks.py --datasets DIR [--model DIR] [--out benchmarks/results_tasks.json]

DIR holds the seed's benchmark files in the layout of their sources (cmrc2018/cmrc2018_dev.json,
lcqmc/dev.txt, ...). Training splits of most tasks are not public or not at hand, so each task
trains on the split listed in SPLITS and is scored on another one (never the same): the numbers
show that every task runs end to end and learns, not the seed's results (those need the real
training sets and the released weights: `paddle-wwm finetune --task T --model chinese-roberta-wwm-ext`).
THUCNews has no file here: its hand-written fixture (tests/fixtures/finetuning/thucnews) is used
for both splits, as a smoke run. The model defaults to a small random-init BERT (hidden 128, 2
layers); `--max-train` / `--max-eval` cap the examples (rows, or JSON articles) to keep the run short.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sentiment import small_model  # noqa: E402
from paddle_wwm.finetuning.config import load_finetune_config  # noqa: E402
from paddle_wwm.finetuning.readers import TASKS  # noqa: E402
from paddle_wwm.finetuning.runner import run_seeds  # noqa: E402

# task: {split: file under DIR} - train on the first, score on the second
SPLITS = {
    "chnsenticorp": {"train": "chnsenticorp/train.tsv", "dev": "chnsenticorp/dev.tsv", "test": "chnsenticorp/test.tsv"},
    "lcqmc": {"train": "lcqmc/dev.txt", "dev": "lcqmc/test.txt"},
    "bq": {"train": "bq/BQ.valid.data", "dev": "bq/BQ.test.data"},
    "xnli": {"train": "xnli/test.tsv", "dev": "xnli/dev.tsv"},
    "thucnews": {"train": "FIXTURE/thucnews/cnews.val.txt", "dev": "FIXTURE/thucnews/cnews.val.txt"},
    "cmrc2018": {"train": "cmrc2018/cmrc2018_dev.json", "dev": "cmrc2018/cmrc2018_trial.json"},
    "drcd": {"train": "drcd/DRCD_dev.json", "dev": "drcd/DRCD_test.json"},
    "cjrc": {"train": "cjrc/dev_ground_truth.json", "dev": "cjrc/test_ground_truth.json"},
}


def copy_capped(source: Path, target: Path, limit: int | None) -> None:
    """Copy a data file keeping its first ``limit`` rows (tsv, header kept) or articles (JSON)."""
    if limit is None:
        shutil.copy(source, target)
    elif source.suffix == ".json":
        data = json.loads(source.read_text(encoding="utf-8"))
        data["data"] = data["data"][:limit]
        target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    else:
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        header = 1 if lines and lines[0].split("\t")[0] in ("label", "text_a") else 0
        target.write_text("".join(lines[:header + limit]), encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--tasks", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("--model", default=None, help="default: a small random-init BERT")
    parser.add_argument("--max-train", type=int, default=4000, help="rows (classification) for training")
    parser.add_argument("--max-train-articles", type=int, default=300, help="JSON articles (span tasks) for training")
    parser.add_argument("--max-eval", type=int, default=2000, help="rows (classification) to score")
    parser.add_argument("--max-eval-articles", type=int, default=150, help="JSON articles (span tasks) to score")
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    datasets = Path(args.datasets)
    fixtures = ROOT / "tests" / "fixtures" / "finetuning"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(small_model(Path(tmp) / "small-bert"))
        for task in args.tasks:
            spec = TASKS[task]
            data = Path(tmp) / "data" / task
            data.mkdir(parents=True)
            span = spec.kind == "span"
            for split, relative in SPLITS[task].items():
                source = fixtures / relative[len("FIXTURE/"):] if relative.startswith("FIXTURE/") else datasets / relative
                limit = (args.max_train_articles if span else args.max_train) if split == "train" else (
                    args.max_eval_articles if span else args.max_eval)
                copy_capped(source, data / spec.files[split], limit)
            config = load_finetune_config(task, overrides=[
                f"data.dir={data}", f"model.name={model}", f"train.output_dir={Path(tmp) / 'runs' / task}",
                "train.seeds=[1]", f"train.epochs={args.epochs}", f"optimizer.learning_rate={args.lr}",
                f"data.max_seq_len={256 if span else 128}"])
            started = time.perf_counter()
            summary = run_seeds(config, progress=False)
            run = json.loads((Path(tmp) / "runs" / task / "results.json").read_text(encoding="utf-8"))["runs"][0]
            results[task] = {"trained_on": SPLITS[task]["train"], "scored_on": {s: SPLITS[task][s] for s in SPLITS[task]
                                                                                  if s != "train"},
                             "scores": {split: {m: v["max"] for m, v in metrics.items()} for split, metrics in summary.items()},
                             "train": run["train"], "seconds": time.perf_counter() - started}
            print(f"{task}: {results[task]['scores']} ({results[task]['seconds']:.0f} s)", flush=True)
    report = {"model": args.model or "small random-init BERT (hidden 128, 2 layers)", "epochs": args.epochs,
              "learning_rate": args.lr, "max_train": [args.max_train, args.max_train_articles],
              "max_eval": [args.max_eval, args.max_eval_articles], "tasks": results}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

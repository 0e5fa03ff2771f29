"""The multi-seed runner: one fine-tuning run per seed (a finished seed is not run again), then the
seed's table format, "max (mean)" over the seeds, for every split and metric."""
from __future__ import annotations

import json
from pathlib import Path

from .config import FinetuneConfig
from paddle_wwm.atomic_files import write_json_atomic

from .one_run import RESULT_FILE, run_one

SUMMARY_FILE = "results.json"
TABLE_FILE = "results.md"


def run_seeds(config: FinetuneConfig, progress: bool = True, echo=print) -> dict:
    out = config.output_dir()
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", {"task": config.task, "model": vars(config.model), "data": vars(config.data),
                                     "optimizer": vars(config.optimizer), "train": vars(config.train)})
    results = []
    for seed in config.train.seeds:
        seed_dir = out / f"seed-{seed}"
        done = seed_dir / RESULT_FILE
        if done.is_file():
            result = json.loads(done.read_text(encoding="utf-8"))
            echo(f"seed {seed}: finished earlier ({_brief(result)})")
        else:
            result = run_one(config, seed, seed_dir, progress)
            echo(f"seed {seed}: {_brief(result)}")
        results.append(result)
    summary = summarise(results)
    write_json_atomic(out / SUMMARY_FILE, {"task": config.task, "model": config.model.name, "seeds": config.train.seeds,
                                    "summary": summary, "runs": results})
    (out / TABLE_FILE).write_text(table(config.task, Path(config.model.name.rstrip("/")).name, summary) + "\n",
                                   encoding="utf-8")
    return summary


def _scores(result: dict) -> dict:
    """{(split, metric): value} of one run."""
    return {(split, metric): value for split in ("dev", "test") if split in result
            for metric, value in result[split].items()}


def summarise(results: list[dict]) -> dict:
    """{split: {metric: {"max", "mean", "values"}}} over the runs."""
    summary: dict = {}
    keys = sorted({key for r in results for key in _scores(r)})
    for split, metric in keys:
        values = [_scores(r)[(split, metric)] for r in results if (split, metric) in _scores(r)]
        summary.setdefault(split, {})[metric] = {"max": max(values), "mean": sum(values) / len(values),
                                                 "values": values}
    return summary


def _brief(result: dict) -> str:
    return ", ".join(f"{split} {metric} {value:.2f}" for (split, metric), value in _scores(result).items()) or "no scores"


def table(task: str, model: str, summary: dict) -> str:
    """A row as the seed prints them: "max (mean)" per split, metrics joined by " / "."""
    if not summary:
        return f"{task}: no scored split"
    splits = [s for s in ("dev", "test") if s in summary]
    first = summary[splits[0]]
    metrics = " / ".join(first)
    runs = len(next(iter(first.values()))["values"])
    cells = [" / ".join(f"{v['max']:.1f} ({v['mean']:.1f})" for v in summary[s].values()) for s in splits]
    return (f"{task} ({metrics}), max (mean) over {runs} seeds\n\n"
            f"| model | {' | '.join(splits)} |\n|---|{'---|' * len(splits)}\n"
            f"| {model} | {' | '.join(cells)} |")

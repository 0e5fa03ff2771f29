"""Does a longer pre-training close the gap to random initialisation? Fine-tuning accuracy against
pre-training steps, for the small model of ``pretraining_value.py``.

    python benchmarks/pretraining_steps.py                       # about 10 minutes on 2 cores
    python benchmarks/pretraining_steps.py --steps 1600 --at 400 800 1600
    python benchmarks/pretraining_steps.py --quick               # every stage in seconds

One whole-word-masking pre-training run of ``--steps`` steps (the recipe of ``pretraining_value.py``,
``configs/pretrain/dapt-small.yaml``, on the same text: the shipped novel and the reviews without
ChnSentiCorp's dev and test texts) keeps its checkpoints at the steps of ``--at``; each of them,
and the random weights the run starts from, is fine-tuned on 500 ChnSentiCorp train labels with
``pretraining_value.py``'s settings, 3 seeds, and scored on the real dev and test sets. The
learning-rate schedule is the one of the whole run, so a checkpoint before the end is not the
model a shorter run would give; the curve answers whether more steps move the fine-tuned accuracy
towards (or past) random initialisation, not what the best short run is.

Writes the table to stdout and everything to --out (default benchmarks/results_pretraining_steps.json).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from pretraining_value import (RECIPE, add_common_arguments, add_finetune_arguments, cell,  # noqa: E402
                               checked_data_dir, finetune, pretraining_corpus, random_init, record_saver,
                               task_data)

DEFAULT_OUT = ROOT / "benchmarks" / "results_pretraining_steps.json"


def pretrain_keeping(corpus_files: list[str], work: Path, steps: int, keep_at: list[int],
                     overrides: list[str]) -> dict:
    """Pre-train once; return the model directory of every step in ``keep_at`` and the curve."""
    from paddle_wwm.pretraining import load_config, pretrain
    from paddle_wwm.pretraining.metrics import read_log
    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    prepare(PrepareSettings(corpus_files, max_seq_len=128), work / "data", workers=2, progress=False)
    save_every = keep_at[0]
    for step in keep_at:
        if step % save_every:
            raise SystemExit(f"--at: {step} is not a multiple of the first step {save_every}")
    output = work / "pretrain-wwm"
    config = load_config(RECIPE, [f"data.dir={work / 'data'}", f"train.output_dir={output}",
                                  f"train.max_steps={steps}", f"train.save_steps={save_every}",
                                  f"train.keep_checkpoints={steps // save_every}", *overrides])
    started = time.perf_counter()
    pretrain(config, progress=False)
    log = read_log(output)
    models = {}
    for step in keep_at:
        model = output / "checkpoints" / f"step-{step:08d}" / "model"
        if not (model / "config.json").is_file():
            raise SystemExit(f"{model}: the checkpoint of step {step} was not kept")
        models[step] = str(model)
    return {"models": models, "seconds": time.perf_counter() - started,
            "curve": [{k: r[k] for k in ("step", "loss", "mlm_accuracy")} for r in log]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=1600, help="length of the pre-training run")
    parser.add_argument("--at", type=int, nargs="+", default=[400, 800, 1600],
                        help="checkpoints to fine-tune (multiples of the first)")
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--epochs", type=float, default=8)
    add_finetune_arguments(parser)
    args = parser.parse_args(argv)
    data = checked_data_dir(parser, args.data)
    overrides, max_eval, max_reviews = [], None, None
    if args.quick:
        args.steps, args.at, args.labels, args.epochs, args.seeds = 4, [2, 4], 32, 1, [1, 2]
        overrides = ["train.global_batch_size=8", "train.micro_batch_size=8", "optimizer.warmup_steps=1",
                     "train.log_steps=2"]
        max_eval, max_reviews = 48, 300
    if max(args.at) > args.steps:
        parser.error(f"--at {max(args.at)} is past --steps {args.steps}")
    out = Path(args.out) if args.out else (None if args.quick else DEFAULT_OUT)
    started = time.perf_counter()
    record = {"command": " ".join(["python benchmarks/pretraining_steps.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "complete": False, "settings": {k: v for k, v in vars(args).items() if k not in ("out", "work")}}

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        save = record_saver(record, out, started, work)
        corpus = pretraining_corpus(data, work / "corpus", max_reviews, novel=not args.quick)
        run = pretrain_keeping(corpus["files"], work, args.steps, sorted(args.at), overrides)
        save(corpus=corpus, pretraining={k: v for k, v in run.items() if k != "models"})
        print(f"pre-trained {args.steps} steps in {run['seconds']:.0f} s", flush=True)
        task = task_data(data, work / "task", args.labels, max_eval)
        starts = {0: random_init(work, overrides), **run["models"]}
        rows = {}
        for step, model in starts.items():
            scores = finetune(model, task, work / "finetune" / f"step-{step}", args.seeds, args.epochs,
                              args.lr, args.max_seq_len)
            loss = next((r for r in run["curve"] if r["step"] == step), None)
            rows[step] = scores | {"mlm_loss": loss and loss["loss"], "mlm_accuracy": loss and loss["mlm_accuracy"]}
            print(f"step {step}: dev {cell(scores['dev'])}, test {cell(scores['test'])}", flush=True)
            save(results=rows)
    lines = ["| pre-training steps | MLM loss | MLM accuracy | dev | test |", "|---|---|---|---|---|"]
    for step, row in rows.items():
        mlm = ("random initialisation", "", "") if step == 0 else (
            str(step), f"{row['mlm_loss']:.2f}" if row["mlm_loss"] else "",
            f"{100 * row['mlm_accuracy']:.1f}%" if row["mlm_accuracy"] is not None else "")
        lines.append(f"| {' | '.join(mlm)} | {cell(row['dev'])} | {cell(row['test'])} |")
    report = "\n".join(lines)
    print(f"\nChnSentiCorp accuracy with {args.labels} labels, max (mean) over {len(args.seeds)} seeds\n\n{report}")
    save(table=report, complete=True)
    return rows


if __name__ == "__main__":
    main()

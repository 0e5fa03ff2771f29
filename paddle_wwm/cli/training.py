"""Commands that train or score: pretrain, finetune, evaluate, and the quickstart."""
from __future__ import annotations

import json
import sys


def cmd_pretrain(args) -> int:
    import os
    from pathlib import Path

    from paddle_wwm.pretraining import load_config, pretrain
    from paddle_wwm.pretraining.launcher import finished_line, launch

    config = load_config(args.config, args.overrides)  # every value checked before any work starts
    if args.nproc > 1 and "PADDLE_TRAINERS_NUM" not in os.environ:
        log_dir = Path(config.train.output_dir) / "launch_logs"
        print(f"launching {args.nproc} processes; rank logs in {log_dir}", file=sys.stderr)
        code = launch(args.config, args.overrides, args.nproc, log_dir, resume=args.resume, quiet=args.quiet)
        if code != 0:
            print(f"paddle-wwm pretrain: error: a rank failed (exit {code}); see {log_dir}/workerlog.*",
                  file=sys.stderr)
        return code
    summary = pretrain(config, resume=args.resume, progress=not args.quiet)
    if line := finished_line(summary, config):
        print(line)
    return 0


def cmd_finetune(args) -> int:
    from paddle_wwm.finetuning.config import load_finetune_config
    from paddle_wwm.finetuning.runner import TABLE_FILE, run_seeds

    overrides = [f"model.name={args.model}", f"data.dir={args.data}", *args.overrides]
    if args.seeds is not None:
        overrides.append(f"train.seeds={list(range(1, args.seeds + 1))}")
    if args.out is not None:
        overrides.append(f"train.output_dir={args.out}")
    config = load_finetune_config(args.task, args.config, overrides)  # checked before any work
    run_seeds(config, progress=not args.quiet)
    print((config.output_dir() / TABLE_FILE).read_text(encoding="utf-8"))
    return 0


def cmd_evaluate(args) -> int:
    from paddle_wwm.finetuning.evaluate import evaluate_predictions

    scores = evaluate_predictions(args.task, args.data, args.predictions)
    print(json.dumps(scores, indent=1, ensure_ascii=False))
    return 0


def cmd_quickstart(args) -> int:
    from paddle_wwm.quickstart import run

    run(args.out, nproc=args.nproc, steps=args.steps, text=args.text)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("pretrain", help="whole-word-masking pre-training from a recipe (fleet data parallel)")
    p.add_argument("--config", required=True, help="recipe, e.g. configs/pretrain/rbt3.yaml")
    p.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.max_steps=100")
    p.add_argument("--resume", action="store_true", help="continue the run in train.output_dir from its last checkpoint")
    p.add_argument("--nproc", type=int, default=1,
                   help="processes on this machine (GPUs, or CPU processes over gloo) via paddle.distributed.launch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("finetune", help="fine-tune and evaluate on a benchmark task over several seeds")
    p.add_argument("--task", required=True, help="cmrc2018, drcd, cjrc, xnli, chnsenticorp, lcqmc, bq or thucnews")
    p.add_argument("--model", required=True, help="zoo name, alias or checkpoint directory")
    p.add_argument("--data", required=True, help="the task's data directory (files under their usual names)")
    p.add_argument("--seeds", type=int, default=None, help="run seeds 1..N (default: the recipe's 10)")
    p.add_argument("--config", default=None, help="recipe (default configs/finetune/TASK.yaml)")
    p.add_argument("--out", default=None, help="output directory (default output/finetune/TASK/MODEL)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.epochs=2")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("evaluate", help="score a predictions file against a task's data file")
    p.add_argument("--task", required=True)
    p.add_argument("data", help="the data file (dev or test) in the task's format")
    p.add_argument("predictions", help="JSON {id: answer text or label}, as finetune writes them")
    p.set_defaults(func=cmd_evaluate)


def add_quickstart(sub) -> None:
    from paddle_wwm.quickstart import DEFAULT_OUT, DEFAULT_TEXT

    p = sub.add_parser("quickstart", help="the whole product offline: prepare, pre-train (fleet), fine-tune, "
                                          "PaddleHub module, Taskflow, and a report")
    p.add_argument("--out", default=DEFAULT_OUT, help="where the prepared data and the model go")
    p.add_argument("--nproc", type=int, default=2, help="pre-training processes (fleet); 0 skips pre-training")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--text", default=DEFAULT_TEXT)
    p.set_defaults(func=cmd_quickstart)

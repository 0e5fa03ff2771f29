"""Commands that train or score: pretrain, restore-mlm-head, finetune, distill, evaluate, and the quickstart."""
from __future__ import annotations

import json
import sys


def cmd_pretrain(args) -> int:
    from paddle_wwm.pretraining.command import run_recipe

    return run_recipe(args.config, args.overrides, nproc=args.nproc, resume=args.resume, quiet=args.quiet,
                      nnodes=args.nnodes, master=args.master, host=args.host, max_restarts=args.max_restarts,
                      rendezvous_timeout=args.rendezvous_timeout)


def cmd_restore_mlm_head(args) -> int:
    from paddle_wwm.pretraining.restore_head import RestoreSettings, restore_mlm_head

    settings = RestoreSettings(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                               max_seq_len=args.max_seq_len, segmenter=args.segmenter, workers=args.workers)
    summary = restore_mlm_head(args.model, args.corpus, args.out, settings, overwrite=args.overwrite,
                               resume=args.resume, progress=not args.quiet)
    print(f"{args.out}: {args.model} with a restored MLM head ({summary['steps']} steps on "
          f"{len(summary['corpus'])} file(s), masked-token loss {summary['first_mlm_loss']:.2f} -> "
          f"{summary['last_mlm_loss']:.2f}, {summary['cpu_seconds_this_run']:.0f} CPU s); try it: "
          f"paddle-wwm fill-mask {args.out} \"北京是中国的[MASK]都。\"")
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


def cmd_distill(args) -> int:
    from paddle_wwm.distillation.config import load_distill_config
    from paddle_wwm.distillation.run import run_distill

    overrides = [f"model.name={args.student}", f"data.dir={args.data}", f"distill.teacher={args.teacher}",
                 *args.overrides]
    if args.init_layers is not None:
        overrides.append(f"distill.init_layers=[{args.init_layers}]")
    if args.seed is not None:
        overrides.append(f"train.seeds=[{args.seed}]")
    if args.out is not None:
        overrides.append(f"train.output_dir={args.out}")
    config = load_distill_config(args.task, args.config, overrides)  # checked before any work
    result = run_distill(config, progress=not args.quiet)
    sizes = result["parameters"]
    scores = ", ".join(f"{split} {metric} {value:.2f}" for split in ("dev", "test") if split in result
                       for metric, value in result[split].items())
    print(f"{config.output_dir() / result['model_dir']}: the student of {args.teacher} "
          f"({sizes['student']['total']:,} parameters against the teacher's {sizes['teacher']['total']:,}; "
          f"{sizes['student']['without_word_embeddings']:,} against {sizes['teacher']['without_word_embeddings']:,} "
          f"without the word embeddings){': ' + scores if scores else ''}")
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
    from paddle_wwm.pretraining.command import add_arguments as add_pretrain_arguments

    p = sub.add_parser("pretrain", help="whole-word-masking pre-training from a recipe (fleet data parallel)")
    add_pretrain_arguments(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("restore-mlm-head", help="train the MLM head a released model lacks (encoder and "
                                                "embeddings frozen) on any text, for fill-mask")
    p.add_argument("model", help="zoo name, alias or checkpoint directory")
    p.add_argument("--corpus", required=True, help="a text file (.txt, .json, .jsonl, as prepare reads them) "
                                                   "or a directory of them")
    p.add_argument("--out", required=True, help="output checkpoint directory")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences a step")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--max-seq-len", type=int, default=128, help="tokens a sequence (at most the model's positions)")
    p.add_argument("--segmenter", default="jieba", help="word segmenter for whole word masking")
    p.add_argument("--workers", type=int, default=1, help="processes preparing the corpus")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a model's trained head, a non-empty --out, or an interrupted run (without --resume)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted restoration into --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_restore_mlm_head)

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

    p = sub.add_parser("distill", help="distil a fine-tuned teacher into a smaller student (soft targets at a "
                                       "temperature, hard labels, optional hidden-state and attention matching)",
                       description="Train --student on the task's training set against the frozen --teacher: "
                                   "alpha * hard-label loss + (1 - alpha) * T^2 * KL(teacher || student) at "
                                   "temperature T, plus hidden-state MSE and attention matching over layer maps "
                                   "(the recipe's distill section). Writes OUT/model (a fine-tuned checkpoint that "
                                   "export, hub package and from_pretrained load), OUT/predictions-{dev,test}.json "
                                   "(for evaluate) and OUT/result.json. Example: paddle-wwm distill --task "
                                   "chnsenticorp --teacher output/finetune/chnsenticorp/rbt6/seed-1/model --student "
                                   "chinese-roberta-wwm-ext --init-layers 0,1,2 --data DIR --config chnsenticorp-t3")
    p.add_argument("--task", required=True, help="cmrc2018, drcd, cjrc, xnli, chnsenticorp, lcqmc, bq or thucnews")
    p.add_argument("--teacher", required=True, help="the fine-tuned teacher: a checkpoint directory with the task's "
                                                    "head (or a finetune/distill run directory holding model/)")
    p.add_argument("--student", required=True, help="zoo name, alias or checkpoint directory to start from, or a "
                                                    "model config .json for a student trained from scratch")
    p.add_argument("--data", required=True, help="the task's data directory (files under their usual names)")
    p.add_argument("--init-layers", default=None, metavar="0,1,2",
                   help="keep only these encoder layers of --student (0-based; 0,1,2 as RBT3 took the first three)")
    p.add_argument("--config", default=None, help="recipe: a file or a name in configs/distill/ (e.g. chnsenticorp-t3)")
    p.add_argument("--seed", type=int, default=None, help="the run's seed (default: the recipe's)")
    p.add_argument("--out", default=None, help="output directory (default output/distill/TASK/STUDENT)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", help="section.key=value, e.g. distill.temperature=4 distill.alpha=0")
    p.set_defaults(func=cmd_distill)

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

"""`paddle-wwm`: one subcommand per job."""
from __future__ import annotations

import argparse
import json
import sys


def _print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    widths = [max(len(title), *(len(str(row[key])) for row in rows)) for key, title in columns]
    print("  ".join(title.ljust(w) for (_, title), w in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(row[key]).ljust(w) for (key, _), w in zip(columns, widths)))


def cmd_zoo(args) -> int:
    from paddle_wwm import zoo

    rows = zoo.listing()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        row["params"] = f"{row['parameters'] / 1e6:.1f}M"
        row["stored"] = "yes" if row["in_store"] else "-"
    _print_table(rows, [("name", "name"), ("layers", "layers"), ("hidden", "hidden"), ("heads", "heads"),
                        ("params", "params"), ("seed_parameters", "seed says"), ("hf_repo", "Hugging Face"),
                        ("stored", "in store")])
    print(f"\nstore: {zoo.home() / 'models'}  (paddle-wwm import NAME PATH adds a checkpoint)")
    return 0


def cmd_convert(args) -> int:
    from paddle_wwm.checkpoints import convert

    checkpoint = convert(args.src, args.dst, layout=args.to, overwrite=args.overwrite)
    print(f"{args.src} ({checkpoint.layout}, {checkpoint.architecture}, {len(checkpoint.state)} tensors) "
          f"-> {args.dst} ({args.to})")
    return 0


def cmd_import(args) -> int:
    from paddle_wwm import zoo

    out = zoo.import_model(args.name, args.src, overwrite=args.overwrite)
    print(f"imported {args.src} as {zoo.entry(args.name).name} -> {out}")
    return 0


def cmd_quickstart(args) -> int:
    from paddle_wwm.quickstart import run

    return run(args)


def cmd_prepare(args) -> int:
    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    settings = PrepareSettings(corpus=args.corpus, segmenter=args.segmenter, max_seq_len=args.max_seq_len,
                               vocab_file=args.vocab, split_sentences=not args.no_sentence_split,
                               json_key=args.json_key, shard_chars=args.shard_chars, chinese_ref=args.chinese_ref)
    reported = [0]

    def echo(message: str) -> None:
        reported[0] += 1
        if reported[0] <= 20:
            print(f"skipped {message}", file=sys.stderr)
        elif reported[0] == 21:
            print("skipped: more bad lines; all are counted in manifest.json", file=sys.stderr)

    manifest = prepare(settings, args.out, workers=args.workers, progress=not args.quiet, echo=echo)
    run = manifest["this_run"]
    print(f"{args.out}: {len(manifest['shards'])} shards ({run['shards_written']} written now, "
          f"{run['shards_skipped']} already finished), {manifest['documents']} documents, "
          f"{manifest['sentences']} sentences, {manifest['tokens']} tokens "
          f"({manifest['mean_sentence_tokens']:.1f} a sentence, {manifest['words_per_token']:.3f} words a token); "
          f"bad lines skipped: {manifest['bad_lines']['total']}; {run['seconds']:.1f} s")
    return 0


def cmd_chinese_ref(args) -> int:
    from pathlib import Path

    from paddle_wwm.segmentation import segment_parallel
    from paddle_wwm.tokenization import BertTokenizer
    from paddle_wwm.wwm.chinese_ref import ref_lines, refs_for_lines, write_chinese_ref

    try:
        lines = ref_lines(Path(args.text).read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{args.text}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    words = segment_parallel(args.segmenter, lines, workers=args.workers)
    refs = refs_for_lines(lines, words, BertTokenizer(args.vocab))
    write_chinese_ref(args.out, refs)
    print(f"{args.out}: refs of {len(refs)} lines, {sum(map(len, refs))} continuation positions "
          f"(segmenter {args.segmenter})")
    return 0


def cmd_check_data(args) -> int:
    from paddle_wwm.finetuning.readers import data_summary

    summaries = [data_summary(args.task, path) for path in args.files]  # DataError (exit 2) on a bad record
    if args.json:
        print(json.dumps(summaries, indent=2, ensure_ascii=False))
        return 0

    def counts(mapping: dict) -> str:
        return ", ".join(f"{key} {value}" for key, value in mapping.items()) or "none"

    for summary in summaries:
        if summary["kind"] == "classification":
            print(f"{summary['file']} ({args.task}): {summary['examples']} examples")
            print(f"  labels: {counts(summary['labels'])}")
        else:
            print(f"{summary['file']} ({args.task}): {summary['questions']} questions, "
                  f"{summary['contexts']} distinct contexts")
            print(f"  answer types: {counts(summary['answer_types'])}")
            print("  answers per question: " + ", ".join(
                f"{n} ({questions} questions)" for n, questions in summary["answers_per_question"].items()))
            print(f"  answer warnings: {counts(summary['warnings'])}")
            for where in summary["warnings_where"]:
                print(f"    {where}")
        print(f"  mean characters: {counts(summary['mean_chars'])}")
        print(f"  skipped: {counts(summary['skipped'])}")
        for where in summary["skipped_where"]:
            print(f"    {where}")
    return 0


def cmd_pretrain(args) -> int:
    from paddle_wwm.pretraining.command import run_recipe

    return run_recipe(args.config, args.overrides, nproc=args.nproc, resume=args.resume, quiet=args.quiet,
                      nnodes=args.nnodes, master=args.master, host=args.host, max_restarts=args.max_restarts,
                      rendezvous_timeout=args.rendezvous_timeout)


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


def cmd_export(args) -> int:
    from paddle_wwm.integrations.export import export

    out = export(args.src, args.out, args.format, overwrite=args.overwrite)
    print(f"{args.src} -> {out} ({args.format})")
    return 0


def cmd_hub(args) -> int:
    from paddle_wwm.integrations import hub_packaging

    if args.hub_command == "package":
        out = hub_packaging.write_module_dir(args.out, args.name, args.summary or f"{args.name}, packaged from {args.src}",
                                          weights=args.src, overwrite=args.overwrite)
        print(f"{args.src} -> {out} (module.py + weights/); install it with: paddle-wwm hub install {out}")
        return 0
    installed = hub_packaging.install(args.target)
    print(f"installed {installed.name} {installed.version} -> {installed.directory}\n"
          f'use it: hub.Module(name="{installed.name}", task="seq-cls", num_classes=2)')
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paddle-wwm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("zoo", help="list the models, their sizes and where their weights are")
    p.add_argument("--json", action="store_true", help="machine-readable listing")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("convert", help="convert a checkpoint between layouts (reads HF, PaddleNLP, TF, ours)")
    p.add_argument("src", help="checkpoint directory (or TF checkpoint prefix)")
    p.add_argument("dst", help="output directory")
    p.add_argument("--to", default="paddle_wwm", choices=["paddle_wwm", "huggingface", "paddlenlp"])
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("import", help="put a checkpoint into the model store under a zoo name")
    p.add_argument("name", help="zoo name or alias, e.g. chinese-roberta-wwm-ext")
    p.add_argument("src", help="checkpoint directory in any supported layout")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("prepare", help="segment and tokenize a corpus into whole-word-masking shards")
    p.add_argument("--corpus", nargs="+", required=True,
                   help="plain text (documents separated by blank lines), .jsonl or .json files")
    p.add_argument("--out", required=True, help="output directory (resumable: run again to continue)")
    p.add_argument("--segmenter", default="jieba", help="jieba (default), jieba:USER_DICT or ltp:PATH_OR_HUB_ID")
    p.add_argument("--max-seq-len", type=int, default=128, help="sentences longer than this - 3 are cut")
    p.add_argument("--workers", type=int, default=1, help="processes for segmentation and tokenization")
    p.add_argument("--vocab", default=None, help="vocab.txt (default: the zoo's Chinese vocabulary)")
    p.add_argument("--json-key", default="text", help="field holding the text in JSON records")
    p.add_argument("--no-sentence-split", action="store_true", help="keep each line as one sentence")
    p.add_argument("--shard-chars", type=int, default=50_000_000, help="characters of text a shard")
    p.add_argument("--chinese-ref", default=None,
                   help="word boundaries from a transformers chinese_ref file (one corpus file, a sample a line)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("chinese-ref", help="write transformers' chinese_ref file for a text file (a sample a line)")
    p.add_argument("text", help="text file, one sample a line (as run_mlm_wwm.py reads it)")
    p.add_argument("out", help="output ref file: one JSON list a line")
    p.add_argument("--segmenter", default="jieba", help="jieba (default), jieba:USER_DICT or ltp:PATH_OR_HUB_ID")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--vocab", default=None)
    p.set_defaults(func=cmd_chinese_ref)

    p = sub.add_parser("check-data", help="read a fine-tuning data file with its task reader and print its counts")
    p.add_argument("--task", required=True, help="xnli, chnsenticorp, lcqmc, bq, thucnews, cmrc2018, drcd or cjrc")
    p.add_argument("files", nargs="+", help="data files in the task's published format")
    p.add_argument("--json", action="store_true", help="machine-readable summaries")
    p.set_defaults(func=cmd_check_data)

    from paddle_wwm.pretraining.command import add_arguments as add_pretrain_arguments

    p = sub.add_parser("pretrain", help="whole-word-masking pre-training from a recipe (fleet data parallel)")
    add_pretrain_arguments(p)
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

    from paddle_wwm.integrations.export import FORMATS as EXPORT_FORMATS
    from paddle_wwm.integrations.export import ONNX_OPSET

    p = sub.add_parser("export", help="export a model for PaddleNLP Taskflow, Paddle Inference or ONNX")
    p.add_argument("src", help="zoo name, alias or checkpoint directory")
    p.add_argument("out", help="output directory")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                   help="taskflow: a PaddleNLP task_path (text_classification for a classifier, fill_mask "
                        "for a model with an MLM head); inference: paddle.jit.save for a Paddle Inference "
                        f"predictor; onnx: model.onnx (opset {ONNX_OPSET}) for onnxruntime")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("hub", help="PaddleHub modules: install a zoo module, or package a checkpoint as one")
    hub_sub = p.add_subparsers(dest="hub_command", required=True)
    q = hub_sub.add_parser("install", help="install into $HUB_HOME/modules (then hub.Module(name=...) loads it)")
    q.add_argument("target", help="zoo module name (e.g. chinese-roberta-wwm-ext, roberta-wwm-ext) or a module directory")
    q.set_defaults(func=cmd_hub)
    q = hub_sub.add_parser("package", help="write a module directory that carries a checkpoint's weights")
    q.add_argument("src", help="checkpoint directory in any supported layout")
    q.add_argument("out", help="output module directory")
    q.add_argument("--name", required=True, help="the module's name for hub.Module(name=...)")
    q.add_argument("--summary", default=None)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_hub)

    p = sub.add_parser("quickstart", help="the whole product offline: prepare, pre-train (fleet), fine-tune, "
                                          "PaddleHub module, Taskflow, and a report")
    p.add_argument("--out", default="output/quickstart", help="where the prepared data and the model go")
    p.add_argument("--nproc", type=int, default=2, help="pre-training processes (fleet); 0 skips pre-training")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--text", default="哈工大讯飞联合实验室发布了中文全词覆盖预训练模型。")
    p.set_defaults(func=cmd_quickstart)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from paddle_wwm.checkpoints.tensor_files import CheckpointError
    from paddle_wwm.modeling.config import ConfigError
    from paddle_wwm.zoo import ModelNotFoundError

    try:
        return args.func(args)
    except (CheckpointError, ConfigError, ModelNotFoundError, FileExistsError, FileNotFoundError,
            KeyError, ValueError) as error:
        message = error.args[0] if type(error) is KeyError else error
        print(f"paddle-wwm {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

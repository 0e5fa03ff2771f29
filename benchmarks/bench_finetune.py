"""Fine-tuning step speed on CPU for rbt3: ours against transformers (torch) and PaddleNLP, one run.

Two workloads, random weights of the zoo's rbt3 config, dropout on, one step = forward + loss +
backward + AdamW (clipping at 1.0):
  cls   sequence classification, batch 32 x 128 tokens, 2 classes (ChnSentiCorp / LCQMC shape)
  mrc   span extraction, batch 8 x 512 tokens (CMRC 2018 / DRCD windows), start + end loss
Implementations: ours (paddle_wwm BertForSequenceClassification / BertForQuestionAnswering, the
AdamW of paddle_wwm.training.optimizer: what `paddle-wwm finetune` runs), hf (transformers'
classes, torch.optim.AdamW) and paddlenlp (its classes, paddle AdamW). Each in its own process, in
interleaved rounds (benchmarks/_rounds.py); the figure is the median step time.

    python benchmarks/bench_finetune.py [--rounds 2] [--steps 3] [--out benchmarks/results_finetune.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from _rounds import (add_ratios, interleaved, median_rows, paddle_update, print_rows, time_steps,  # noqa: E402
                     torch_update, write_results)

IMPLS = ["ours", "hf", "paddlenlp"]
WORKLOADS = {"cls": (32, 128), "mrc": (8, 512)}
LR = 2e-5


def make_batch(workload: str, seed: int = 0):
    import numpy as np

    batch, seq = WORKLOADS[workload]
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 21128, (batch, seq))
    ids[:, 0], ids[:, -1] = 101, 102
    if workload == "cls":
        return ids, rng.integers(0, 2, batch)
    starts = rng.integers(70, seq - 40, batch)
    return ids, np.stack([starts, starts + rng.integers(0, 30, batch)], 1)


def rbt3_config() -> dict:
    with open(os.path.join(os.path.dirname(HERE), "configs", "models", "rbt3.json"), encoding="utf-8") as f:
        return {k: v for k, v in json.load(f).items() if k != "architectures"}


def ours_step(workload: str):
    import paddle
    import paddle.nn.functional as F

    from paddle_wwm import zoo
    from paddle_wwm.modeling import BertForQuestionAnswering, BertForSequenceClassification
    from paddle_wwm.training.optimizer import build_optimizer
    from paddle_wwm.training.optimizer_config import OptimizerSection

    paddle.seed(0)
    config = zoo.zoo_config("rbt3")
    model = BertForSequenceClassification(config, num_classes=2) if workload == "cls" else BertForQuestionAnswering(config)
    model.train()
    optimizer, _ = build_optimizer(model, OptimizerSection(learning_rate=LR), max_steps=1000)
    ids, labels = (paddle.to_tensor(a) for a in make_batch(workload))
    mask = paddle.ones_like(ids)

    def step():
        if workload == "cls":
            loss = F.cross_entropy(model(ids, None, mask), labels)
        else:
            start, end = model(ids, None, mask)
            loss = (F.cross_entropy(start, labels[:, 0]) + F.cross_entropy(end, labels[:, 1])) / 2
        return paddle_update(optimizer, loss)

    return step


def hf_step(workload: str):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(**rbt3_config(), num_labels=2)
    model = (transformers.BertForSequenceClassification(config) if workload == "cls"
             else transformers.BertForQuestionAnswering(config))
    model.train()
    decay = [p for p in model.parameters() if p.ndim != 1]
    no_decay = [p for p in model.parameters() if p.ndim == 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LR, eps=1e-6)
    ids, labels = (torch.tensor(a) for a in make_batch(workload))
    mask = torch.ones_like(ids)

    def step():
        if workload == "cls":
            loss = model(ids, attention_mask=mask, labels=labels).loss
        else:
            loss = model(ids, attention_mask=mask, start_positions=labels[:, 0], end_positions=labels[:, 1]).loss
        return torch_update(model, optimizer, loss)

    return step


def paddlenlp_step(workload: str):
    import paddle
    import paddle.nn.functional as F
    from paddlenlp.transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification

    paddle.seed(0)
    config = BertConfig(**rbt3_config(), num_labels=2)
    model = BertForSequenceClassification(config) if workload == "cls" else BertForQuestionAnswering(config)
    model.train()
    no_decay = {p.name for p in model.parameters() if p.ndim == 1}
    optimizer = paddle.optimizer.AdamW(learning_rate=LR, parameters=model.parameters(), weight_decay=0.01, epsilon=1e-6,
                                       apply_decay_param_fun=lambda n: n not in no_decay,
                                       grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0))
    ids, labels = (paddle.to_tensor(a) for a in make_batch(workload))

    def step():
        if workload == "cls":
            out = model(ids)
            loss = F.cross_entropy(out[0] if isinstance(out, (tuple, list)) else out, labels)
        else:
            start, end = model(ids)[:2]
            loss = (F.cross_entropy(start, labels[:, 0]) + F.cross_entropy(end, labels[:, 1])) / 2
        return paddle_update(optimizer, loss)

    return step


def worker(impl: str, workload: str, steps: int, warmup: int) -> dict:
    return time_steps({"ours": ours_step, "hf": hf_step, "paddlenlp": paddlenlp_step}[impl](workload), steps, warmup)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--impls", nargs="+", default=IMPLS, choices=IMPLS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.workloads[0], args.steps, args.warmup)))
        return
    results = {"model": "rbt3 (random weights)", "cpu_count": os.cpu_count(), "workloads": {}}
    for workload in args.workloads:
        batch, seq = WORKLOADS[workload]
        times, errors, _ = interleaved(__file__, args.impls, ["--workloads", workload, "--steps", str(args.steps),
                                                              "--warmup", str(args.warmup)], args.rounds)
        rows = median_rows(times, batch, "examples")
        add_ratios(rows, ["ours"], ["hf", "paddlenlp"], "examples")
        results["workloads"][workload] = {"batch": batch, "seq": seq, "implementations": rows, "errors": errors}
        print_rows(f"{workload}: examples/s (batch {batch} x {seq})", rows, errors, "examples", width=10)
    write_results(args.out, results)

if __name__ == "__main__":
    main()

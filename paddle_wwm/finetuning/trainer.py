"""The fine-tuning training loop and its batching helpers (the task objects in ``tasks/`` and the
one-run driver ``one_run.py`` use them): ``fit`` trains ``epochs`` passes with AdamW (warmup,
linear decay, global-norm clipping)."""
from __future__ import annotations

import math
import time

import numpy as np

from paddle_wwm.pretraining.optimization import build_optimizer

from .config import FinetuneConfig


def _pad(rows: list[list[int]], value: int = 0) -> np.ndarray:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def _batches(n: int, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for begin in range(0, n, batch_size):
        yield order[begin:begin + batch_size]


def fit(model, train_size: int, step_loss, config: FinetuneConfig, seed: int, progress: bool) -> dict:
    """Train ``epochs`` passes over ``train_size`` examples; ``step_loss(indices)`` returns the
    mean loss of a batch (a paddle scalar). Returns training statistics."""
    batch_size = config.train.batch_size
    steps_per_epoch = math.ceil(train_size / batch_size)
    total_steps = max(1, int(round(steps_per_epoch * config.train.epochs)))
    optimizer, scheduler = build_optimizer(model, config.optimizer, total_steps)
    rng = np.random.default_rng(seed)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, desc=f"{config.task} seed {seed}", unit="step", dynamic_ncols=True)
    model.train()
    step, losses, started = 0, [], time.perf_counter()
    while step < total_steps:
        for indices in _batches(train_size, batch_size, rng):
            loss = step_loss(indices)
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            scheduler.step()
            losses.append(float(loss))
            step += 1
            if bar is not None:
                bar.update(1)
                if step % config.train.log_steps == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-config.train.log_steps:]):.4f}")
            if step >= total_steps:
                break
    if bar is not None:
        bar.close()
    model.eval()
    seconds = time.perf_counter() - started
    return {"steps": total_steps, "first_loss": losses[0], "last_loss": float(np.mean(losses[-10:])),
            "seconds": seconds, "examples_per_second": total_steps * batch_size / seconds}

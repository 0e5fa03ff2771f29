"""The training loop of pre-training and fine-tuning, readable top to bottom.

``optimizer_steps`` runs optimizer updates. For each micro-batch of a step: forward and loss
(the caller's ``loss_fn``), then backward of the loss divided by the number of micro-batches, so
that k accumulated micro-batches of b examples give the gradient of one batch of k * b. Across
data-parallel ranks the gradients are synchronised once, after the last micro-batch (``no_sync``
holds back the others). Then the update: global-norm clipping is the optimizer's ``grad_clip``;
with an fp16 ``scaler`` the gradients are unscaled first and a step with an overflow is skipped.
Last, the learning-rate schedule moves on.

The loop yields after every update, so the caller's loop body is where logging, evaluation and
checkpoints go (see ``pretraining/trainer.py`` and ``fit`` below).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import paddle

from .batches import index_batches
from .optimizer import build_optimizer


@dataclass
class Update:
    """One optimizer update, as the caller's loop body sees it."""
    step: int  # updates done, this one included (1-based)
    learning_rate: float  # the rate this update used
    stats: paddle.Tensor  # what loss_fn reported, summed over the step's micro-batches


def optimizer_steps(optimizer, scheduler: paddle.optimizer.lr.LRScheduler,
                    micro_batches: Callable[[int], Sequence[Any]],
                    loss_fn: Callable[[Any], tuple[paddle.Tensor, paddle.Tensor]],
                    steps: range, scaler: paddle.amp.GradScaler | None = None,
                    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None) -> Iterator[Update]:
    """Run the updates ``steps`` (0-based step numbers: a resumed run starts past 0).

    ``micro_batches(step)`` lists what the step accumulates; ``loss_fn(micro_batch)`` returns
    (mean loss, statistics tensor to sum); ``no_sync`` is the data-parallel model's ``no_sync``.
    """
    for step in steps:
        batches = micro_batches(step)
        stats = None
        for k, batch in enumerate(batches):
            hold_sync = no_sync is not None and k < len(batches) - 1
            with no_sync() if hold_sync else contextlib.nullcontext():
                loss, batch_stats = loss_fn(batch)
                scaled = loss / len(batches)
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            stats = batch_stats if stats is None else stats + batch_stats
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.clear_grad()
        learning_rate = scheduler.last_lr
        scheduler.step()
        yield Update(step + 1, learning_rate, stats)


def progress_bar(total: int, desc: str, initial: int = 0):
    """A tqdm bar over optimizer steps."""
    from tqdm import tqdm

    # Into a log file (under the launcher, on a cluster) a redraw every 0.1 s is a line every 0.1 s.
    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True, mininterval=interval)


def fit(model, train_size: int, step_loss, config, seed: int, progress: bool) -> dict:
    """Fine-tune: ``config.train.epochs`` passes over ``train_size`` examples in batches of
    ``config.train.batch_size``, shuffled by ``seed``, with ``config.optimizer``;
    ``step_loss(indices)`` returns the mean loss of a batch (a paddle scalar). Returns training
    statistics. ``config`` is a fine-tuning recipe (its ``task`` names the progress bar)."""
    batch_size = config.train.batch_size
    steps_per_epoch = math.ceil(train_size / batch_size)
    total_steps = max(1, int(round(steps_per_epoch * config.train.epochs)))
    optimizer, scheduler = build_optimizer(model, config.optimizer, total_steps)
    rng = np.random.default_rng(seed)
    # epoch after epoch, each in a new order; the last one may stop part way
    batches = itertools.chain.from_iterable(index_batches(train_size, batch_size, rng) for _ in itertools.count())

    def loss_and_stats(indices):
        loss = step_loss(indices)
        return loss, loss

    bar = progress_bar(total_steps, f"{config.task} seed {seed}") if progress else None
    model.train()
    losses, started = [], time.perf_counter()
    for update in optimizer_steps(optimizer, scheduler, lambda step: [next(batches)], loss_and_stats,
                                  range(total_steps)):
        losses.append(float(update.stats))
        if bar is not None:
            bar.update(1)
            if update.step % config.train.log_steps == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-config.train.log_steps:]):.4f}")
    if bar is not None:
        bar.close()
    model.eval()
    seconds = time.perf_counter() - started
    return {"steps": total_steps, "first_loss": losses[0], "last_loss": float(np.mean(losses[-10:])),
            "seconds": seconds, "examples_per_second": total_steps * batch_size / seconds}

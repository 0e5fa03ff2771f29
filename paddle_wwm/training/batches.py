"""Which examples each optimizer step reads, and padding them into a batch.

Pre-training: ``GlobalBatches``, the same global batches for any number of ranks. Epoch e visits
the dataset's sequences in a permutation drawn from (seed, e). Step s takes the next
``global_batch_size`` of them; micro-batch ``k`` of rank ``r`` is slice ``j = k * world + r`` of
it. So the ranks read disjoint sequences, and 2 ranks x 1 micro-batch see exactly what 1 rank x 2
accumulated micro-batches see: data parallelism changes only where a micro-batch runs. The
remainder of an epoch (fewer than a global batch) is dropped. A step's data depends on the step
number only, which is all that resuming needs.

Packing draws new sequences each round, so epochs differ a little in length. An epoch has the
steps of epoch 0 (fixed, so that step -> epoch needs no other epoch's packing); an epoch that came
out shorter repeats the start of its permutation to fill them.

Fine-tuning: ``index_batches``, one pass in a shuffled (or the given) order, the last batch
short; ``pad_rows`` makes token id lists of different lengths one array.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np


class GlobalBatches:
    def __init__(self, num_sequences: int, global_batch_size: int, micro_batch_size: int,
                 world_size: int, rank: int, seed: int, epoch_length: Callable[[int], int] | None = None):
        if num_sequences < global_batch_size:
            raise ValueError(f"the data holds {num_sequences} sequences, fewer than one global batch of "
                             f"{global_batch_size}: prepare more text or lower train.global_batch_size")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.num_sequences = num_sequences
        self.global_batch_size = global_batch_size
        self.micro_batch_size = micro_batch_size
        self.world_size = world_size
        self.rank = rank
        self.seed = seed
        self.epoch_length = epoch_length or (lambda epoch: num_sequences)
        self.steps_per_epoch = num_sequences // global_batch_size
        self.accumulation_steps = global_batch_size // (micro_batch_size * world_size)
        self._order: tuple[int, np.ndarray] | None = None

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            permutation = np.random.default_rng([self.seed, epoch]).permutation(self.epoch_length(epoch))
            self._order = (epoch, np.resize(permutation, self.steps_per_epoch * self.global_batch_size))
        return self._order[1]

    def micro_batches(self, step: int) -> list[np.ndarray]:
        """This rank's micro-batches (dataset indices) for ``step``, in accumulation order."""
        epoch, within = divmod(step, self.steps_per_epoch)
        begin = within * self.global_batch_size
        batch = self.order(epoch)[begin:begin + self.global_batch_size]
        m = self.micro_batch_size
        return [batch[(k * self.world_size + self.rank) * m:(k * self.world_size + self.rank + 1) * m]
                for k in range(self.accumulation_steps)]


def index_batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Indices 0..n-1 in batches of ``batch_size``: permuted by ``rng``, or in order without one."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for begin in range(0, n, batch_size):
        yield order[begin:begin + batch_size]


def pad_rows(rows: list[list[int]], value: int = 0) -> np.ndarray:
    """An int64 array of the rows, each right-padded with ``value`` to the longest."""
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out

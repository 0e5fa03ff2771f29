"""The shared training package: the step loop (accumulation equals one large batch, gradients
synchronised once per step, the schedule's rates), fine-tuning's epochs over a seeded order, the
batches each rank reads, the learning-rate schedule, and the optimizer section's checks."""
import contextlib
from types import SimpleNamespace

import numpy as np
import paddle
import pytest

from paddle_wwm.finetuning.config import FinetuneConfigError, load_finetune_config
from paddle_wwm.pretraining import PretrainConfigError, load_config
from paddle_wwm.training import (GlobalBatches, OptimizerSection, build_optimizer, fit, index_batches,
                                 optimizer_steps, pad_rows, warmup_then_linear_decay)

ROWS = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
TARGETS = (ROWS @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype("float32")
# epsilon 1: AdamW's update then depends on the gradient's scale, so a sum where a mean belongs shows
OPTIMIZER = OptimizerSection(learning_rate=0.1, warmup_steps=2, weight_decay=0.01, epsilon=1.0, max_grad_norm=10.0)


def linear_model() -> paddle.nn.Linear:
    paddle.seed(0)
    return paddle.nn.Linear(3, 1)


def squared_error(model, rows):
    """(mean squared error, summed squared error) of some rows."""
    errors = (model(paddle.to_tensor(ROWS[rows])) - paddle.to_tensor(TARGETS[rows])) ** 2
    return errors.mean(), errors.sum().detach()


# -- the step loop -------------------------------------------------------------------------------
def test_accumulated_micro_batches_give_the_update_of_one_batch():
    """Step s takes rows 4s..4s+3: as 2 micro-batches of 2 through the loop, and as one batch of 4
    in a plain Paddle loop written out here."""
    reference = linear_model()
    optimizer, scheduler = build_optimizer(reference, OPTIMIZER, max_steps=4)
    for step in range(4):
        loss, _ = squared_error(reference, np.arange(4 * step, 4 * step + 4) % 8)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        scheduler.step()

    model = linear_model()
    optimizer, scheduler = build_optimizer(model, OPTIMIZER, max_steps=4)
    halves = lambda step: np.split(np.arange(4 * step, 4 * step + 4) % 8, 2)  # noqa: E731
    updates = list(optimizer_steps(optimizer, scheduler, halves, lambda rows: squared_error(model, rows), range(4)))

    assert [u.step for u in updates] == [1, 2, 3, 4]
    np.testing.assert_allclose([u.learning_rate for u in updates], [0.05, 0.1, 0.1, 0.05])  # warmup 2, then decay
    for name, value in reference.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_the_stats_are_summed_over_micro_batches_and_sync_waits_for_the_last():
    model = linear_model()
    optimizer, scheduler = build_optimizer(model, OPTIMIZER, max_steps=1)
    before = {name: p.numpy().copy() for name, p in model.state_dict().items()}
    expected = sum(float(squared_error(model, rows)[1]) for rows in ([0, 1], [2], [3, 4, 5]))
    held_back = []

    @contextlib.contextmanager
    def no_sync():
        held_back.append(len(held_back))
        yield

    seen = []

    def loss_fn(rows):
        seen.append((list(rows), len(held_back)))
        return squared_error(model, rows)

    (update,) = optimizer_steps(optimizer, scheduler, lambda step: [[0, 1], [2], [3, 4, 5]], loss_fn, range(1),
                                no_sync=no_sync)
    assert seen == [([0, 1], 1), ([2], 2), ([3, 4, 5], 2)]  # no_sync around the first two only
    np.testing.assert_allclose(float(update.stats), expected, rtol=1e-6)
    assert any(not np.array_equal(p.numpy(), before[name]) for name, p in model.state_dict().items())


# -- fine-tuning's epochs ------------------------------------------------------------------------
def test_fit_runs_epochs_in_a_seeded_order_and_stops_part_way():
    """5 examples in batches of 2 are 3 steps an epoch; 1.5 epochs round to 4 steps."""
    model = linear_model()
    visited, losses = [], []

    def step_loss(indices):
        visited.append(indices.tolist())
        loss, _ = squared_error(model, indices)
        losses.append(float(loss))
        return loss

    config = SimpleNamespace(task="demo", optimizer=OPTIMIZER, train=SimpleNamespace(batch_size=2, epochs=1.5,
                                                                                       log_steps=1))
    stats = fit(model, 5, step_loss, config, seed=7, progress=False)
    rng = np.random.default_rng(7)
    first, second = rng.permutation(5), rng.permutation(5)
    assert visited == [first[:2].tolist(), first[2:4].tolist(), first[4:].tolist(), second[:2].tolist()]
    assert stats["steps"] == 4 and stats["first_loss"] == losses[0]
    assert stats["last_loss"] == pytest.approx(np.mean(losses))
    assert not model.training


def test_index_batches_and_pad_rows():
    assert [b.tolist() for b in index_batches(5, 2, None)] == [[0, 1], [2, 3], [4]]
    shuffled = [b.tolist() for b in index_batches(5, 2, np.random.default_rng(1))]
    assert sum(shuffled, []) == np.random.default_rng(1).permutation(5).tolist()
    padded = pad_rows([[5, 6, 7], [8], [9, 10]], value=-1)
    assert padded.dtype == np.int64
    assert padded.tolist() == [[5, 6, 7], [8, -1, -1], [9, 10, -1]]


# -- pre-training's batches ----------------------------------------------------------------------
def test_ranks_read_disjoint_slices_of_the_same_global_batches():
    one = GlobalBatches(1000, 32, 8, world_size=1, rank=0, seed=3)
    two = [GlobalBatches(1000, 32, 8, world_size=2, rank=r, seed=3) for r in range(2)]
    for step in (0, 5, 31, 32, 100):  # 31 steps an epoch: 31 and 100 are in later epochs
        single = one.micro_batches(step)
        assert len(single) == 4 and all(len(m) == 8 for m in single)
        rank0, rank1 = (b.micro_batches(step) for b in two)
        assert len(rank0) == 2
        # micro-batch k of rank r is slice k * world + r of the global batch
        assert [m.tolist() for m in single] == [rank0[0].tolist(), rank1[0].tolist(), rank0[1].tolist(),
                                                rank1[1].tolist()]
        assert len(set(np.concatenate(single).tolist())) == 32
    epoch0 = np.concatenate([np.concatenate(one.micro_batches(s)) for s in range(31)])
    assert len(set(epoch0.tolist())) == 31 * 32  # no sequence twice within an epoch
    assert not np.array_equal(one.micro_batches(0)[0], one.micro_batches(31)[0])  # a new order each epoch


# -- the optimizer and its section ---------------------------------------------------------------
def test_learning_rate_warms_up_then_decays_linearly():
    scheduler = warmup_then_linear_decay(1.0, warmup_steps=4, max_steps=12)
    rates = []
    for _ in range(12):
        rates.append(scheduler.get_lr())
        scheduler.step()
    np.testing.assert_allclose(rates, [0.25, 0.5, 0.75, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])


@pytest.mark.parametrize("override, message", [
    ("optimizer.name=sgd", "optimizer.name: must be one of ('adamw', 'lamb'), got 'sgd'"),
    ("optimizer.name=AdamW", "optimizer.name: must be one of ('adamw', 'lamb'), got 'AdamW'"),
    ("optimizer.epsilon=0", "optimizer.epsilon: must be positive, got 0.0"),
    ("optimizer.beta2=1", "optimizer.beta1/beta2: must lie in [0, 1), got 0.9, 1.0"),
])
def test_both_recipes_reject_bad_optimizer_values_when_read(tmp_path, override, message):
    """Checked while the recipe is read: before the data directory is even looked at."""
    with pytest.raises(PretrainConfigError) as error:
        load_config("tiny", [override])
    assert message in str(error.value)
    with pytest.raises(FinetuneConfigError) as error:
        load_finetune_config("bq", overrides=[f"data.dir={tmp_path}", override])
    assert message in str(error.value)


def test_build_optimizer_refuses_an_unknown_name():
    with pytest.raises(ValueError, match=r"unknown optimizer 'sgd': optimizers are \('adamw', 'lamb'\)"):
        build_optimizer(linear_model(), OptimizerSection(name="sgd"), max_steps=10)

"""Training checkpoints: weights, optimizer (with its LR scheduler), loss scaler, every rank's RNG
state and the step, written atomically every N steps, the last K kept.

Layout: ``OUTPUT/checkpoints/step-00000100/`` holding ``model/`` (our safetensors layout, MLM head
included), ``optimizer.pdopt``, ``rng-rank{R}.pkl`` per rank (all written by rank 0) and ``trainer_state.json``, written
last. Everything goes into ``.step-00000100.tmp`` first and is renamed into place whole, so a run
killed at any moment leaves only finished checkpoints behind (and a temporary directory the next
save removes). The data position needs no saving: a step's batches are a function of the step.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import paddle

from paddle_wwm.checkpoints.layouts import read_checkpoint
from paddle_wwm.checkpoints.model_state import load_state
from paddle_wwm.errors import PaddleWwmError

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pdopt"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


class ResumeError(PaddleWwmError, ValueError):
    """A checkpoint cannot be resumed from; the message names it and the reason."""


def checkpoints_dir(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / "checkpoints"


def finished_checkpoints(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, directory) of every complete checkpoint, oldest first."""
    root = checkpoints_dir(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def _rng_state() -> dict:
    state = {"cpu": paddle.get_rng_state()}
    if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        state["cuda"] = paddle.get_cuda_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    paddle.set_rng_state(state["cpu"])
    if "cuda" in state and paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        paddle.set_cuda_rng_state(state["cuda"])


def save_checkpoint(output_dir, step: int, model, optimizer, trainer_state: dict, *, rank: int = 0,
                    world_size: int = 1, keep: int = 3, barrier=lambda: None, gather=lambda obj: [obj],
                    vocab_file=None) -> Path | None:
    """Write the checkpoint of ``step``. Every rank calls this; only rank 0 writes (the other ranks'
    RNG states reach it through ``gather``, an all-gather of Python objects). Returns its directory
    on rank 0. A checkpoint that already exists is left alone."""
    rng_states = gather(_rng_state())
    if rank != 0:
        barrier()  # returns once rank 0 has written: a rank that stops next leaves a finished checkpoint
        return None
    root = checkpoints_dir(output_dir)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    if not (final / STATE_FILE).is_file():
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for r, state in enumerate(rng_states):
            with open(tmp / f"rng-rank{r}.pkl", "wb") as f:
                pickle.dump(state, f)
        model.save_pretrained(tmp / "model", vocab_file=vocab_file)
        paddle.save(optimizer.state_dict(), str(tmp / OPTIMIZER_FILE))
        state = dict(trainer_state, step=step, world_size=world_size)
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, final)
    for _, old in finished_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def load_checkpoint(path: Path, model, optimizer, *, rank: int = 0, world_size: int = 1) -> dict:
    """Restore weights, optimizer, scheduler and this rank's RNG; returns the trainer state."""
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    if state.get("world_size") != world_size:
        raise ResumeError(f"{path}: written by {state.get('world_size')} ranks, resumed with {world_size}: "
                          "an exact resume needs the same number of ranks (the global batch may stay the same "
                          "with another accumulation, but each rank's dropout RNG state is per rank)")
    checkpoint = read_checkpoint(path / "model")
    load_state(model, checkpoint.state, str(path / "model"))
    optimizer.set_state_dict(paddle.load(str(path / OPTIMIZER_FILE)))
    rng_file = path / f"rng-rank{rank}.pkl"
    if not rng_file.is_file():
        raise ResumeError(f"{path}: no RNG state for rank {rank} ({rng_file.name} missing)")
    with open(rng_file, "rb") as f:
        _set_rng_state(pickle.load(f))  # our own file, written by save_checkpoint
    return state

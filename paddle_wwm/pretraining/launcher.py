"""Pre-training on N processes of this machine: the recipe re-runs in each rank through
``python -m paddle.distributed.launch`` (GPUs over NCCL, or CPU processes over gloo)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The script the launcher runs in every rank (a file: the launcher does not run modules).
RANK_SCRIPT = Path(__file__).resolve().parent / "launch" / "pretrain_main.py"


def launch(recipe, overrides, nproc: int, log_dir: Path, *, resume: bool = False, quiet: bool = False) -> int:
    """Run the recipe (with its ``section.key=value`` overrides) as ``nproc`` fleet processes, rank
    logs in ``log_dir``; returns the launcher's exit code (0 when every rank finished)."""
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(nproc),
               "--log_dir", str(log_dir), str(RANK_SCRIPT), "--config", str(recipe), *overrides]
    if resume:
        command.append("--resume")
    if quiet:
        command.append("--quiet")
    return subprocess.call(command)


def finished_line(summary: dict, config) -> str | None:
    """What a finished run reports (None on the ranks that write no final model)."""
    if not summary.get("final_model"):
        return None
    return (f"{summary['final_model']}: pre-trained {summary['steps']} steps on {summary['world_size']} "
            f"process(es), {summary['precision']}; scalars in {config.train.output_dir}/log.jsonl")

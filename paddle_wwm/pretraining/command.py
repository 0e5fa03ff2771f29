"""The pretrain command as a library function: its arguments and what it runs, shared by
`paddle-wwm pretrain`, the rank script that paddle's launcher runs, and the quickstart."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# The script paddle.distributed.launch runs in every rank (a file: the launcher does not run modules).
RANK_SCRIPT = Path(__file__).resolve().parent / "launch" / "pretrain_main.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="recipe, e.g. configs/pretrain/rbt3.yaml")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.max_steps=100")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in train.output_dir from its last checkpoint")
    parser.add_argument("--nproc", type=int, default=1,
                        help="processes on this machine (GPUs, or CPU processes over gloo) via paddle.distributed.launch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_recipe(recipe, overrides=(), *, nproc: int = 1, resume: bool = False, quiet: bool = False) -> int:
    """Check the recipe (with its ``section.key=value`` overrides), then pre-train in this process
    (alone, or as a rank that paddle's launcher started), or re-run it as ``nproc`` fleet processes
    through paddle.distributed.launch. Returns the exit code (a failed rank's, or 0)."""
    from paddle_wwm.pretraining import load_config, pretrain

    config = load_config(recipe, overrides)  # every value checked before any work starts
    if nproc > 1 and "PADDLE_TRAINERS_NUM" not in os.environ:
        return _launch(recipe, overrides, nproc, Path(config.train.output_dir) / "launch_logs", resume, quiet)
    summary = pretrain(config, resume=resume, progress=not quiet)
    if summary.get("final_model"):
        print(f"{summary['final_model']}: pre-trained {summary['steps']} steps on {summary['world_size']} "
              f"process(es), {summary['precision']}; scalars in {config.train.output_dir}/log.jsonl")
    return 0


def _launch(recipe, overrides, nproc: int, log_dir: Path, resume: bool, quiet: bool) -> int:
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(nproc),
               "--log_dir", str(log_dir), str(RANK_SCRIPT), "--config", str(recipe), *overrides]
    if resume:
        command.append("--resume")
    if quiet:
        command.append("--quiet")
    print(f"launching {nproc} processes; rank logs in {log_dir}", file=sys.stderr)
    code = subprocess.call(command)
    if code != 0:
        print(f"paddle-wwm pretrain: error: a rank failed (exit {code}); see {log_dir}/workerlog.*", file=sys.stderr)
    return code

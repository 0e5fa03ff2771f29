"""The pretrain command as a library function: its arguments and what it runs, shared by
`paddle-wwm pretrain`, the rank script that paddle's launcher runs, and the quickstart."""
from __future__ import annotations

import argparse
import os
import sys

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="recipe, e.g. configs/pretrain/rbt3.yaml")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. train.max_steps=100")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in train.output_dir from its last checkpoint")
    parser.add_argument("--nproc-per-node", "--nproc", dest="nproc", type=int, default=1,
                        help="processes on this node (GPUs, or CPU processes over gloo) via paddle.distributed.launch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    cluster = parser.add_argument_group("cluster (the same command on every node; see docs/cluster.md)")
    cluster.add_argument("--nnodes", type=int, default=1, help="nodes in the job")
    cluster.add_argument("--master", default=None, metavar="HOST:PORT",
                         help="the first node's address and a free port (the job coordinator uses PORT+1 too)")
    cluster.add_argument("--host", default=None,
                         help="this node's address (default: the one that reaches the master)")
    cluster.add_argument("--max-restarts", type=int, default=0,
                         help="after a failure, restart all nodes from the last checkpoint up to this many times")
    cluster.add_argument("--rendezvous-timeout", type=float, default=300.0, metavar="SECONDS",
                         help="how long nodes and ranks may take to join before the job fails")


def run_recipe(recipe, overrides=(), *, nproc: int = 1, resume: bool = False, quiet: bool = False,
               nnodes: int = 1, master: str | None = None, host: str | None = None, max_restarts: int = 0,
               rendezvous_timeout: float = 300.0) -> int:
    """Check the recipe (with its ``section.key=value`` overrides), then pre-train: as this node's
    part of a supervised job of ``nnodes`` x ``nproc`` ranks (see launcher.py), as one rank that
    paddle's launcher started, or alone in this process. Returns the exit code: 0 when done,
    128+N when stopped by signal N (a checkpoint written), else non-zero with a message."""
    from paddle_wwm.pretraining import load_config, pretrain

    config = load_config(recipe, overrides)  # every value checked before any work starts
    # A rank of paddle.distributed.launch: PADDLE_LOCAL_RANK is the launcher's own variable (platforms
    # such as the Paddle operator set PADDLE_TRAINERS_NUM in every pod); that launcher's command holds
    # the run directory and the signals.
    rank_of_a_launch = "PADDLE_LOCAL_RANK" in os.environ
    if not rank_of_a_launch and (nproc > 1 or nnodes > 1 or master is not None):
        from paddle_wwm.pretraining.launcher import NodeSettings, run_node

        return run_node(NodeSettings(
            config_path=str(recipe), overrides=list(overrides), output_dir=config.train.output_dir,
            data_dir=config.data.dir, recipe=config.to_dict(), stall_timeout=config.train.stall_timeout,
            nnodes=nnodes, master=master, host=host, nproc=nproc, max_restarts=max_restarts,
            rendezvous_timeout=rendezvous_timeout, resume=resume, quiet=quiet))
    if rank_of_a_launch:
        summary = pretrain(config, resume=resume, progress=not quiet)
    else:  # one process: this command holds the run directory and turns signals into a stop request
        from paddle_wwm.pretraining.run_lock import RunLock
        from paddle_wwm.pretraining.watchdog import stop_on_signals

        with RunLock(config.train.output_dir), stop_on_signals() as stop:
            summary = pretrain(config, resume=resume, progress=not quiet)
            stopped_by = stop.signal
        if summary.get("stopped_at") is not None:
            print(f"stopped by {stopped_by.name} after step {summary['stopped_at']}; the checkpoint is in "
                  f"{config.train.output_dir}/checkpoints; continue with --resume", file=sys.stderr)
            return 128 + stopped_by.value
    if summary.get("final_model"):
        print(f"{summary['final_model']}: pre-trained {summary['steps']} steps on {summary['world_size']} "
              f"process(es), {summary['precision']}; scalars in {config.train.output_dir}/log.jsonl")
    return 0

"""The script ``paddle-wwm pretrain --nproc N`` hands to ``python -m paddle.distributed.launch``
(which runs a file, not a module): one rank of the run. It lives in a folder of its own because the
launcher puts the script's folder first on sys.path, where no module may shadow another.

Under a paddle-wwm node launcher the rank first starts its watchdog (heartbeats to the job
coordinator, exit when the node launcher is gone), before the model and the data are built, and
says goodbye with its exit code, so that the coordinator tells an exit from a death."""
import argparse
import sys

from paddle_wwm.errors import PaddleWwmError
from paddle_wwm.pretraining.command import add_arguments, run_recipe
from paddle_wwm.pretraining.watchdog import start_worker_watchdog


def main(argv=None) -> int:
    """`paddle-wwm pretrain` with these arguments, in this rank."""
    parser = argparse.ArgumentParser(prog="paddle-wwm pretrain", description="one rank of a pre-training run")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_recipe(args.config, args.overrides, nproc=args.nproc, resume=args.resume, quiet=args.quiet)
    except PaddleWwmError as error:
        print(f"paddle-wwm pretrain: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    watchdog = start_worker_watchdog()  # None unless a paddle-wwm node launcher started this rank
    try:
        code = main()
    except BaseException as error:
        if watchdog is not None:
            watchdog.close(1, error=f"{type(error).__name__}: {error}"[:500])
        raise
    if watchdog is not None:
        watchdog.close(code, error=None if code == 0 else "see its log for the error")
    sys.exit(code)

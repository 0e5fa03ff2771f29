"""The script ``paddle-wwm pretrain --nproc N`` hands to ``python -m paddle.distributed.launch``
(which runs a file, not a module): one rank of the run. It lives in a folder of its own because the
launcher puts the script's folder first on sys.path, where no module may shadow another."""
import argparse
import sys

from paddle_wwm.errors import PaddleWwmError
from paddle_wwm.pretraining.command import add_arguments, run_recipe


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
    sys.exit(main())

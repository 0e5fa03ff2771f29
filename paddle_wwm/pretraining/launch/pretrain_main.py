"""The script ``paddle-wwm pretrain --nproc N`` hands to ``python -m paddle.distributed.launch``
(which runs a file, not a module): one rank of the run. It lives in a folder of its own because the
launcher puts the script's folder first on sys.path, where no module may shadow another."""
import argparse
import sys

from paddle_wwm.errors import PaddleWwmError
from paddle_wwm.pretraining import load_config, pretrain
from paddle_wwm.pretraining.launcher import finished_line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="one rank of `paddle-wwm pretrain --nproc N`")
    parser.add_argument("--config", required=True)
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        summary = pretrain(config, resume=args.resume, progress=not args.quiet)
    except PaddleWwmError as error:
        print(f"paddle-wwm pretrain: error: {error}", file=sys.stderr)
        return 2
    if line := finished_line(summary, config):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

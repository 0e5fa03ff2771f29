"""The script ``paddle-wwm pretrain --nproc N`` hands to ``python -m paddle.distributed.launch``
(which runs a file, not a module). It lives in a folder of its own because the launcher puts the
script's folder first on sys.path, where no module may shadow another."""
import sys

from paddle_wwm.cli import main

if __name__ == "__main__":
    sys.exit(main(["pretrain", *sys.argv[1:]]))

"""The script ``paddle-wwm pretrain --nproc N`` hands to ``python -m paddle.distributed.launch``
(which runs a file, not a module). It lives in a folder of its own because the launcher puts the
script's folder first on sys.path, where no module may shadow another.

Under a paddle-wwm node launcher it first starts the rank's watchdog (heartbeats to the job
coordinator, exit when the node launcher is gone), before the model and the data are built."""
import sys

from paddle_wwm.pretraining.watchdog import start_worker_watchdog

if __name__ == "__main__":
    watchdog = start_worker_watchdog()
    try:
        from paddle_wwm.cli import main

        code = main(["pretrain", *sys.argv[1:]])
    except BaseException as error:
        if watchdog is not None:
            watchdog.close(1, error=f"{type(error).__name__}: {error}"[:500])
        raise
    if watchdog is not None:
        watchdog.close(code, error=None if code == 0 else "see its log for the error")
    sys.exit(code)

"""An ordered map over worker processes that each build their worker once (a segmenter, a
tokenizer) and then run it on task after task.

Nothing here imports paddle: forked from a process that has not imported it either (the
``prepare`` command, a script using the data code), the workers start fast and carry none of
paddle's native signal handlers or thread pools.
"""
from __future__ import annotations

import multiprocessing
import sys
from collections import deque
from typing import Callable, Iterable, Iterator

# The worker this process built, or the error building it raised (one pool per worker process).
_WORKER: dict = {}


def _build_worker(make_worker: Callable[[], Callable]) -> None:
    # An exception raised by a pool initializer makes multiprocessing restart the worker forever;
    # keep it and raise it from the first task instead, where it reaches the caller.
    try:
        _WORKER["run"] = make_worker()
    except Exception as error:
        _WORKER["error"] = error


def _run_task(task):
    if "error" in _WORKER:
        raise _WORKER["error"]
    return _WORKER["run"](task)


class OrderedPool:
    """``map(tasks)`` gives ``worker(task)`` for each task, in the order of the tasks.

    ``make_worker()`` builds the callable once per process; it must be picklable where processes
    are spawned (module-level functions, classes, ``functools.partial`` of them). ``workers <= 1``
    runs everything in this process. At most ``window`` tasks (default ``2 * workers``) are in
    flight, so a lazy iterable of tasks of any length is read as the results are consumed.

    Use it as a context manager. Leaving it, even early or by an error, lets the tasks in flight
    finish and the workers exit on their own; only an interrupt (KeyboardInterrupt, SystemExit)
    terminates them. So no worker is sent SIGTERM in the ordinary course, which matters when the
    parent has imported paddle: its signal handler, inherited by forked workers, reports SIGTERM
    as a C++ fatal error.
    """

    def __init__(self, workers: int, make_worker: Callable[[], Callable], window: int | None = None):
        self.pool = None
        self.pending: deque = deque()
        if workers > 1:
            context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            self.pool = context.Pool(workers, initializer=_build_worker, initargs=(make_worker,))
            self.window = max(1, window or 2 * workers)
        else:
            self.run = make_worker()

    def map(self, tasks: Iterable) -> Iterator:
        if self.pool is None:
            yield from map(self.run, tasks)
            return
        for task in tasks:
            self.pending.append(self.pool.apply_async(_run_task, (task,)))
            if len(self.pending) >= self.window:
                yield self.pending.popleft().get()
        while self.pending:
            yield self.pending.popleft().get()

    def close(self, interrupted: bool = False) -> None:
        if self.pool is None:
            return
        if interrupted:
            self.pool.terminate()
        else:
            for result in self.pending:  # at most `window`; their results or errors are not wanted
                result.wait()
            self.pool.close()
        self.pending.clear()
        self.pool.join()
        self.pool = None

    def __enter__(self) -> OrderedPool:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close(interrupted=exc_type is not None and not issubclass(exc_type, Exception))

"""The ordered process pool behind `prepare` and `segment_parallel`: results in task order, a worker
built once per process, its build error raised to the caller, and workers that exit on their own
(no SIGTERM, which paddle's inherited handler would report as a C++ fatal error)."""
import functools
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from paddle_wwm.parallel import OrderedPool


class _Squarer:
    """Squares a task; notes its process id, and any SIGTERM it receives, in `log_dir`."""

    def __init__(self, log_dir: str):
        self.log_dir = Path(log_dir)
        if multiprocessing.parent_process() is not None:  # a worker process, not the test's own
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, *_):
        (self.log_dir / f"sigterm-{os.getpid()}").touch()
        os._exit(1)

    def __call__(self, task: int) -> tuple[int, int]:
        (self.log_dir / f"worker-{os.getpid()}").touch()
        return task * task, os.getpid()


def _broken_worker():
    raise FileNotFoundError("no such dictionary: /nowhere/dict.txt")


@pytest.mark.parametrize("workers", [1, 3])
def test_results_come_in_task_order_from_workers_built_once(tmp_path, workers):
    with OrderedPool(workers, functools.partial(_Squarer, str(tmp_path)), window=2) as pool:
        results = list(pool.map(iter(range(40))))
    assert [square for square, _ in results] == [n * n for n in range(40)]
    pids = {pid for _, pid in results}
    assert len(pids) <= workers and (pids == {os.getpid()}) == (workers == 1)
    assert sorted(p.name for p in tmp_path.glob("sigterm-*")) == []


def test_an_error_building_the_worker_reaches_the_caller(tmp_path):
    for workers in (1, 2):
        with pytest.raises(FileNotFoundError, match="/nowhere/dict.txt"):
            with OrderedPool(workers, _broken_worker) as pool:
                list(pool.map(range(5)))


def test_leaving_early_lets_the_workers_exit_without_sigterm(tmp_path):
    def tasks():
        yield from range(6)
        raise ValueError("bad input at line 7")

    with pytest.raises(ValueError, match="line 7"):
        with OrderedPool(2, functools.partial(_Squarer, str(tmp_path))) as pool:
            for _ in pool.map(tasks()):
                pass
    with OrderedPool(2, functools.partial(_Squarer, str(tmp_path))) as pool:
        assert next(pool.map(range(100)))[0] == 0  # a consumer that stops with tasks in flight
    assert list(tmp_path.glob("worker-*"))
    assert sorted(p.name for p in tmp_path.glob("sigterm-*")) == []

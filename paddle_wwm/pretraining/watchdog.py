"""The worker's side of a supervised job: a daemon thread that heartbeats (rank, step, phase) to the
job coordinator every second, takes stop requests from it, and ends the process when its node's
launcher is gone; plus the hooks the training loop calls at step boundaries.

The training loop only sees :class:`TrainingHooks`: ``step_started(step)`` at the top of a step and
``stop_requested(done)`` after it (every rank calls it: the ranks all-reduce their stop flags, so all
stop after the same step, write one checkpoint and return).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import threading
import time

from .job_channel import HEARTBEAT_SECONDS, Channel, ChannelClosed

ENV_COORDINATOR = "PADDLE_WWM_COORDINATOR"  # host:port of the job coordinator
ENV_NODE_PID = "PADDLE_WWM_NODE_PID"  # pid of this node's `paddle-wwm pretrain` command
ENV_ATTEMPT = "PADDLE_WWM_ATTEMPT"  # which start of the job (restarts count up)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
REPORT_SECONDS = 0.25  # a new step is reported at once, but not more often than this
_PR_SET_PDEATHSIG = 1

_watchdog: "WorkerWatchdog | None" = None


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


class _StopRequest:
    """Whether a stop was requested, and by which signal (None: by the coordinator)."""

    def __init__(self):
        self.event = threading.Event()
        self.signal: signal.Signals | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    def set(self, number: int | None = None) -> None:
        if number is not None and self.signal is None:
            self.signal = signal.Signals(number)
        self.event.set()

    def clear(self) -> None:
        self.event.clear()
        self.signal = None


_stop = _StopRequest()  # from a signal or from the coordinator


def _on_signal(number, frame) -> None:
    if _stop.is_set():
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        return
    print(f"paddle-wwm pretrain: {signal.Signals(number).name}: stopping after the current step (a checkpoint "
          "is written; --resume continues); send it again to stop at once", file=sys.stderr, flush=True)
    _stop.set(number)


def install_stop_signals() -> None:
    """SIGTERM/SIGINT request a stop at the next step boundary; a second one ends the process at once."""
    for number in STOP_SIGNALS:
        signal.signal(number, _on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a node launcher starts us with them blocked


@contextlib.contextmanager
def stop_on_signals():
    """Within: SIGTERM/SIGINT request a stop (see install_stop_signals); yields the request, which
    is read within (it is cleared on the way out)."""
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    _stop.clear()
    install_stop_signals()
    try:
        yield _stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _stop.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class WorkerWatchdog(threading.Thread):
    """Heartbeats to the coordinator; exits the process when the node launcher or coordinator is gone."""

    def __init__(self, address: str, rank: int, attempt: int, node_pid: int):
        super().__init__(name="job-watchdog", daemon=True)
        host, port = address.rsplit(":", 1)
        self.channel = Channel.connect(host, int(port), timeout=60, what="the job coordinator")
        self.rank, self.node_pid, self.parent = rank, node_pid, os.getppid()
        self.step, self.phase, self.stopped_at = 0, "setup", None
        self._lock, self._closing, self._sent = threading.Lock(), False, 0.0
        self._send({"type": "hello", "role": "worker", "rank": rank, "attempt": attempt, "pid": os.getpid(),
                    "host": os.environ.get("POD_IP") or socket.gethostname()})

    def _send(self, message: dict) -> None:
        with self._lock:
            if not self._closing:
                self.channel.send(message)
                self._sent = time.monotonic()

    def report(self, step: int, phase: str) -> None:
        """From the training thread: the step in progress, sent at once unless a beat just went out."""
        self.step, self.phase = step, phase
        if time.monotonic() - self._sent >= REPORT_SECONDS:
            try:
                self._send({"type": "beat", "step": step, "phase": phase})
            except ChannelClosed:
                pass  # the watchdog thread notices and acts

    def run(self) -> None:
        try:
            while not self._closing:
                self._send({"type": "beat", "step": self.step, "phase": self.phase})
                for message in self.channel.receive(timeout=HEARTBEAT_SECONDS):
                    if message.get("type") == "stop":
                        _stop.set()
                if os.getppid() != self.parent or not _alive(self.node_pid):
                    self._exit("its node launcher is gone")
        except (ChannelClosed, OSError, ValueError):  # ValueError: select() on the socket close() closed
            if not self._closing:
                self._exit("lost the job coordinator (the master node's command ended or the network failed)")

    def _exit(self, why: str) -> None:
        print(f"paddle-wwm pretrain: rank {self.rank}: {why}; exiting", file=sys.stderr, flush=True)
        os._exit(1)

    def close(self, code: int, error: str | None = None) -> None:
        """Say goodbye (so that the coordinator does not take the exit for a death) and disconnect."""
        message = {"type": "bye", "code": code, "error": error, "stopped_at": self.stopped_at}
        try:
            self._send(message)
        except ChannelClosed:
            pass
        with self._lock:
            self._closing = True
        self.channel.close()


def start_worker_watchdog() -> WorkerWatchdog | None:
    """In a worker started by a paddle-wwm node launcher: start the watchdog (else None)."""
    global _watchdog
    address = os.environ.get(ENV_COORDINATOR)
    if not address or "PADDLE_TRAINER_ID" not in os.environ:
        return None
    die_with_parent()  # paddle's launcher is our parent; it must not leave us behind
    install_stop_signals()
    _watchdog = WorkerWatchdog(address, int(os.environ["PADDLE_TRAINER_ID"]), int(os.environ.get(ENV_ATTEMPT, 0)),
                               int(os.environ[ENV_NODE_PID]))
    _watchdog.start()
    return _watchdog


class TrainingHooks:
    """What the training loop reports and asks; without a watchdog only the stop flag matters."""

    def __init__(self, ctx):
        self.ctx, self.watchdog = ctx, _watchdog

    def step_started(self, step: int) -> None:
        """``step`` counts from 0; the coordinator sees the 1-based step in progress."""
        if self.watchdog is not None:
            self.watchdog.report(step + 1, "step")

    def stop_requested(self, done: int) -> bool:
        """True on every rank when any rank was asked to stop (call on every rank after each step)."""
        flag = 1.0 if _stop.is_set() else 0.0
        if self.ctx.world_size > 1:
            import paddle

            flag = float(self.ctx.all_reduce_sum(paddle.to_tensor([flag], dtype="float32")).item())
        if flag > 0 and self.watchdog is not None:
            self.watchdog.stopped_at, self.watchdog.phase = done, "checkpoint"
        return flag > 0

"""The per-node command behind ``paddle-wwm pretrain --nnodes N --master HOST:PORT`` (and
``--nproc-per-node K`` on one machine): checks the node's settings, takes the run-directory lock
and runs the job coordinator on the master node, then starts ``python -m paddle.distributed.launch``
whenever the coordinator says so, and kills it (with every rank) when the coordinator aborts or
restarts the job, when the coordinator is gone, or on a second stop signal.

paddle's launcher runs in its own session, with SIGKILL as its parent-death signal and SIGTERM/SIGINT
blocked (the ranks unblock them): a stop signal, from the terminal or from a job system that
signals every process, reaches this command and the ranks as a stop request, never paddle's
launcher, which would kill the ranks before they write their checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .job_channel import HEARTBEAT_SECONDS, Channel, ChannelClosed, JobError
from .watchdog import ENV_ATTEMPT, ENV_COORDINATOR, ENV_NODE_PID, STOP_SIGNALS, die_with_parent

# The script paddle.distributed.launch runs in every rank (a file: the launcher does not run modules).
RANK_SCRIPT = Path(__file__).resolve().parent / "launch" / "pretrain_main.py"

STOP_GRACE_SECONDS = 50.0  # after a stop request the ranks get this long for their checkpoint


@dataclass
class NodeSettings:
    config_path: str
    overrides: list = field(default_factory=list)
    output_dir: str = "output/pretrain"
    data_dir: str = ""
    recipe: dict = field(default_factory=dict)  # the loaded recipe: all nodes must agree on it
    stall_timeout: float = 600.0
    nnodes: int = 1
    master: str | None = None  # HOST:PORT; None on one node
    host: str | None = None
    nproc: int = 1
    max_restarts: int = 0
    rendezvous_timeout: float = 300.0
    resume: bool = False
    quiet: bool = False


def fingerprint(settings: NodeSettings) -> str:
    """The recipe and the prepared data's manifest: what every node must have the same of."""
    manifest = Path(settings.data_dir, "manifest.json")
    digest = hashlib.sha256(json.dumps(settings.recipe, sort_keys=True).encode())
    digest.update(manifest.read_bytes() if manifest.is_file() else b"")
    return digest.hexdigest()[:16]


def run_node(settings: NodeSettings) -> int:
    """Run this node's part of the job; returns the exit code (0 done, 128+N stopped by signal N)."""
    from . import node_address
    from .coordinator import Coordinator
    from .run_lock import RunLock

    if settings.nnodes > 1 and settings.master is None:
        raise JobError(f"--nnodes {settings.nnodes} needs --master HOST:PORT (the address of the first node)")
    if settings.master is not None:
        master_host, master_port = node_address.parse_master(settings.master)
        host = node_address.node_host(settings.host, master_host)
    else:
        master_host, master_port, host = "127.0.0.1", _free_port(), "127.0.0.1"
    # one node: gloo/NCCL pick loopback or what the user set, as before
    socket_env = node_address.socket_environment(host) if settings.nnodes > 1 else {}
    is_master = host == master_host
    lock = RunLock(settings.output_dir).acquire(address=host) if is_master else None
    coordinator = None
    try:
        if is_master:
            coordinator = Coordinator(master_host, master_port + 1, settings.nnodes, fingerprint(settings),
                                      stall_timeout=settings.stall_timeout, max_restarts=settings.max_restarts,
                                      rendezvous_timeout=settings.rendezvous_timeout)
            coordinator.start()
        node = _Node(settings, host, f"{master_host}:{master_port}", socket_env)
        return node.run(Channel.connect(master_host, master_port + 1, settings.rendezvous_timeout,
                                        "the job coordinator (master port + 1)"))
    finally:
        if coordinator is not None:
            coordinator.join(timeout=15)
        if lock is not None:
            lock.release()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Node:
    def __init__(self, settings: NodeSettings, host: str, master: str, socket_env: dict):
        self.settings, self.host, self.master, self.socket_env = settings, host, master, socket_env
        log_root = Path(settings.output_dir) / "launch_logs"
        self.log_dir = log_root if settings.nnodes == 1 else log_root / host
        self.process: subprocess.Popen | None = None
        self.signal: int | None = None
        self.stop_deadline: float | None = None

    def _on_signal(self, number, frame) -> None:
        if self.signal is not None:  # the second one: no more waiting
            self._kill()
            os._exit(128 + number)
        self.signal = number

    def run(self, channel: Channel) -> int:
        previous = {number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS}
        channel.send({"type": "hello", "role": "node", "host": self.host, "nproc": self.settings.nproc,
                      "fingerprint": fingerprint(self.settings)})
        try:
            return self._serve(channel)
        except ChannelClosed:
            self._kill()
            return _error(f"lost the job coordinator at {self.master.rsplit(':', 1)[0]} (the master node's command "
                          "ended or the network failed); this node's ranks were stopped")
        finally:
            self._kill()
            channel.close()
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _serve(self, channel: Channel) -> int:
        next_beat = 0.0
        while True:
            now = time.monotonic()
            if now >= next_beat:
                channel.send({"type": "beat"})
                next_beat = now + HEARTBEAT_SECONDS
            if self.signal is not None and self.stop_deadline is None:
                channel.send({"type": "stop", "signal": self.signal})
                self.stop_deadline = now + STOP_GRACE_SECONDS
            if self.stop_deadline is not None and now > self.stop_deadline:
                return _error(f"the ranks did not stop within {STOP_GRACE_SECONDS:.0f} s of the stop request; "
                              "killed them (the last finished checkpoint is kept)", 128 + (self.signal or 15))
            if self.process is not None and self.process.poll() is not None:
                channel.send({"type": "exited", "code": self.process.returncode, "log_dir": str(self.log_dir)})
                self.process = None
            for message in channel.receive(timeout=0.2):
                kind = message["type"]
                if kind == "start":
                    self.process = self._spawn(message["attempt"], message["resume"])
                elif kind == "halt":
                    print(f"paddle-wwm pretrain: {message['message']}", file=sys.stderr, flush=True)
                    self._kill()
                    channel.send({"type": "halted"})
                elif kind == "abort":
                    self._kill()
                    return _error(message["message"])
                elif kind == "done":
                    return self._done(message)

    def _done(self, message: dict) -> int:
        if message.get("signal") is None:
            return 0
        number, step = message["signal"], message["stopped_at"]
        where = (f"after step {step}; the checkpoint is in {self.settings.output_dir}/checkpoints" if step is not None
                 else "before the ranks started")
        print(f"paddle-wwm pretrain: stopped by {signal.Signals(number).name} {where}; continue with --resume",
              file=sys.stderr, flush=True)
        return 128 + number

    def _spawn(self, attempt: int, resume: bool) -> subprocess.Popen:

        s = self.settings
        command = [sys.executable, "-m", "paddle.distributed.launch", "--nnodes", str(s.nnodes),
                   "--nproc_per_node", str(s.nproc), "--log_dir", str(self.log_dir), "--max_restart", "0"]
        if s.nnodes > 1:
            command += ["--master", self.master, "--host", self.host]
        command += [str(RANK_SCRIPT), "--config", s.config_path, *s.overrides]
        if resume or s.resume:
            command.append("--resume")
        if s.quiet:
            command.append("--quiet")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PADDLE_TRAINER", "PADDLE_MASTER"))}
        env.update(self.socket_env, POD_IP=self.host, **{ENV_COORDINATOR: self.master.rsplit(":", 1)[0] + ":" +
                   str(int(self.master.rsplit(":", 1)[1]) + 1), ENV_NODE_PID: str(os.getpid()),
                   ENV_ATTEMPT: str(attempt)})
        if attempt == 0:
            print(f"launching {s.nproc} process(es) on {self.host} ({s.nnodes} node(s)); rank logs in {self.log_dir}",
                  file=sys.stderr, flush=True)
        return subprocess.Popen(command, env=env, preexec_fn=_paddle_launcher_setup)

    def _kill(self) -> None:
        """SIGKILL paddle's launcher and everything under it (its ranks run in sessions of their own)."""
        if self.process is None:
            return
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.process = None


def _paddle_launcher_setup() -> None:
    """In the child before exec: a session of its own, death with us, stop signals blocked (see above)."""
    os.setsid()
    die_with_parent()
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _error(message: str, code: int = 1) -> int:
    print(f"paddle-wwm pretrain: error: {message}", file=sys.stderr, flush=True)
    return code

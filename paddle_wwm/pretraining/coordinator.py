"""The job coordinator: a small TCP service on the master node (master port + 1) that every node
launcher and every worker keeps a connection to. It decides, without relying on gloo or NCCL:

- start: once all nodes joined (with the same recipe and data), every node starts its ranks;
- death: a connection that closes without a goodbye (a killed process's socket closes at once) or a
  process silent for ``silence_timeout`` seconds (stopped, or its machine gone);
- stall: a rank whose step did not advance for ``stall_timeout`` seconds;
- then a restart (every node kills its ranks, all rendezvous again and resume from the last
  checkpoint) while restarts are left, else an abort that every node reports and exits with;
- stop: a signal to any node's command becomes a stop request to every rank.
"""
from __future__ import annotations

import logging
import selectors
import socket
import threading
import time

from .job_channel import HEARTBEAT_SECONDS, Channel, ChannelClosed, JobError

logger = logging.getLogger(__name__)
HALT_SECONDS = 30.0  # how long nodes get to kill their ranks before a restart
# A rank's error can be the echo of another's death (gloo: "connection reset by peer"): errors wait
# this long for a death to explain them; deaths, silences and stalls act at once.
ECHO_SECONDS = 2.0


class Coordinator(threading.Thread):
    def __init__(self, bind: str, port: int, nnodes: int, fingerprint: str, *, stall_timeout: float,
                 rendezvous_timeout: float, max_restarts: int = 0):
        super().__init__(name="job-coordinator", daemon=True)
        try:
            self.server = socket.create_server((bind, port))
        except OSError as error:
            raise JobError(f"cannot start the job coordinator on {bind}:{port} ({error}); is another job "
                           "using this master port? (the coordinator takes the master port + 1)") from None
        self.nnodes, self.fingerprint = nnodes, fingerprint
        self.stall_timeout, self.rendezvous_timeout = stall_timeout, rendezvous_timeout
        self.silence_timeout = min(30.0, stall_timeout)
        self.restarts_left = max_restarts
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.server, selectors.EVENT_READ)
        self.peers: dict[Channel, dict] = {}  # channel -> {"role": ..., "last": time, ...}
        self.phase, self.attempt = "gathering", -1
        self.deadline = time.monotonic() + rendezvous_timeout
        self.stop_signal: int | None = None
        self.stopped_at: int | None = None
        self.outcome: str | None = None
        self.pending: tuple[float, str] | None = None  # (when, message) of a reported error

    # -- loop ----------------------------------------------------------------------------------------
    def run(self) -> None:
        linger_until = None
        while linger_until is None or (time.monotonic() < linger_until and self.peers):
            for key, _ in self.selector.select(timeout=0.5):
                if key.fileobj is self.server:
                    self._accept()
                else:
                    self._read(key.data)
            if self.phase != "finished":
                self._check_time()
            elif linger_until is None:
                linger_until = time.monotonic() + 10  # let the nodes read the verdict, then go
        self.server.close()

    def _accept(self) -> None:
        sock, _ = self.server.accept()
        channel = Channel(sock)
        self.peers[channel] = {"role": None, "last": time.monotonic()}
        self.selector.register(channel.sock, selectors.EVENT_READ, channel)

    def _read(self, channel: Channel) -> None:
        if channel not in self.peers:
            return  # dropped while handling an earlier event of this round
        try:
            channel.feed()
            messages = channel.messages()
        except (ChannelClosed, ValueError):
            self._closed(channel)
            return
        for message in messages:
            if channel in self.peers:
                self._handle(channel, message)

    def _drop(self, channel: Channel) -> dict:
        self.selector.unregister(channel.sock)
        channel.close()
        return self.peers.pop(channel)

    def _send(self, channel: Channel, message: dict) -> None:
        try:
            channel.send(message)
        except ChannelClosed:
            pass  # its closing is noticed by the loop

    def _broadcast(self, role: str, message: dict) -> None:
        for channel, peer in list(self.peers.items()):
            if peer["role"] == role:
                self._send(channel, message)

    def _of(self, role: str) -> list[dict]:
        return [peer for peer in self.peers.values() if peer["role"] == role]

    # -- messages ------------------------------------------------------------------------------------
    def _handle(self, channel: Channel, message: dict) -> None:
        peer, now = self.peers[channel], time.monotonic()
        peer["last"] = now
        kind = message.get("type")
        if kind == "hello":
            self._hello(channel, peer, message, now)
        elif kind == "beat" and peer["role"] == "worker":
            if (message["step"], message["phase"]) != (peer["step"], peer["phase"]):
                peer.update(step=message["step"], phase=message["phase"], changed=now)
        elif kind == "bye":  # a worker ending on its own: 0 when done or stopped
            peer["bye"] = message
            if message.get("stopped_at") is not None:
                self.stopped_at = message["stopped_at"]
            if message["code"] != 0:
                self._failure(f"rank {peer['rank']} on {peer['host']} failed at step {peer['step']}: "
                              f"{message.get('error') or 'exit code ' + str(message['code'])}", echo=True)
        elif kind == "exited":  # a node's paddle launcher ended
            peer["state"] = "exited"
            if message["code"] != 0:
                self._failure(f"node {peer['host']}: its ranks exited with code {message['code']} "
                              f"(logs in {message.get('log_dir')})", echo=True)
            elif self.phase == "running" and all(p["state"] == "exited" for p in self._of("node")):
                self._finish()
        elif kind == "halted":
            peer["state"] = "idle"
        elif kind == "stop":
            self._request_stop(message.get("signal", 15), peer["host"])

    def _hello(self, channel: Channel, peer: dict, message: dict, now: float) -> None:
        role = message["role"]
        if role == "node":
            if self.phase != "gathering" or len(self._of("node")) >= self.nnodes:
                refusal = (f"the job at this master already has its {self.nnodes} nodes (--nnodes "
                           f"{self.nnodes}); {message['host']} is one too many")
                self._send(channel, {"type": "abort", "message": refusal})
                return
            if message["fingerprint"] != self.fingerprint:
                self._abort(f"node {message['host']} has another recipe or data than the master node "
                            f"(fingerprint {message['fingerprint']} != {self.fingerprint}): every node must run "
                            "the same --config, overrides and prepared data")
                self._send(channel, {"type": "abort", "message": self.outcome})
                return
            peer.update(role="node", host=message["host"], nproc=message["nproc"], state="idle")
        elif role == "worker" and self.phase == "running" and message["attempt"] == self.attempt:
            peer.update(role="worker", rank=message["rank"], host=message["host"], step=0, phase="setup",
                        changed=now, bye=None)
            if self.stop_signal is not None:
                self._send(channel, {"type": "stop"})
        else:
            self._drop(channel)  # a worker of a previous attempt

    def _closed(self, channel: Channel) -> None:
        peer = self._drop(channel)
        if self.phase != "running":
            return
        if peer["role"] == "worker" and peer["bye"] is None:
            self._failure(f"rank {peer['rank']} on {peer['host']} died at step {peer['step']} "
                          "(its process ended without a word: killed, or crashed hard)")
        elif peer["role"] == "node":
            self._failure(f"node {peer['host']} lost at step {self._step()}: its `paddle-wwm pretrain` "
                          "command ended or the node went down")

    def _request_stop(self, signal_number: int, host: str) -> None:
        if self.stop_signal is None:
            logger.warning("stop requested on %s: every rank stops after its current step", host)
            self.stop_signal = signal_number
            self._broadcast("worker", {"type": "stop"})
            if self.phase in ("gathering", "halting"):  # no ranks running: nothing to wait for
                self._finish()

    # -- time --------------------------------------------------------------------------------------
    def _check_time(self) -> None:
        now = time.monotonic()
        nodes = self._of("node")
        if self.phase == "gathering":
            if len(nodes) == self.nnodes and all(n["state"] == "idle" for n in nodes):
                self._start(now)
            elif now > self.deadline:
                self._abort(f"only {len(nodes)} of {self.nnodes} nodes joined within {self.rendezvous_timeout:.0f} s "
                            f"(joined: {', '.join(n['host'] for n in nodes) or 'none'}); start the same command "
                            "on every node, with the same --nnodes and --master")
            return
        if self.phase == "halting":
            if all(n["state"] == "idle" for n in nodes) or now > self.deadline:
                self.phase, self.deadline = "gathering", now + self.rendezvous_timeout
            return
        if self.pending is not None and now >= self.pending[0]:
            self._failure(self.pending[1])
            return
        silent = [p for p in self._of("node") + self._of("worker") if now - p["last"] > self.silence_timeout]
        if silent:
            peer = min(silent, key=lambda p: p["last"])  # the first to go quiet; the others may wait for it
            who = f"rank {peer['rank']}" if peer["role"] == "worker" else "node"
            self._failure(f"{who} on {peer['host']} silent for {now - peer['last']:.0f} s at step {self._step()} "
                          "(stopped, hung hard, or its machine is gone)")
            return
        workers = self._of("worker")
        expected = sum(n["nproc"] for n in nodes)
        if len(workers) < expected and now - self.started > self.rendezvous_timeout:
            present = sorted(w["rank"] for w in workers)
            missing = sorted(set(range(expected)) - set(present))
            self._failure(f"ranks {missing} did not start within {self.rendezvous_timeout:.0f} s (see the launch "
                          "logs of their nodes)")
            return
        stalled = [w for w in workers if now - w["changed"] > self.stall_timeout and w["bye"] is None]
        if stalled:
            self._failure(self._stall_message(workers, stalled, now))

    def _stall_message(self, workers: list[dict], stalled: list[dict], now: float) -> str:
        step = min(w["step"] for w in stalled)
        behind = [w for w in workers if w["step"] == step and w["bye"] is None]
        ahead = [w for w in workers if w not in behind]
        if not ahead:  # all inside the same step: the ones that went quiet did not arrive
            quiet = [w for w in behind if now - w["last"] > 2 * HEARTBEAT_SECONDS]
            behind, ahead = (quiet, [w for w in behind if w not in quiet]) if quiet else (behind, [])
        names = ", ".join(f"{w['rank']} on {w['host']} ({w['phase']})" for w in sorted(behind, key=lambda w: w["rank"]))
        waiting = f"; ranks {sorted(w['rank'] for w in ahead)} wait for them" if ahead else ""
        return (f"stalled at step {step}: no step progress for {self.stall_timeout:.0f} s (train.stall_timeout); "
                f"ranks that did not arrive: {names}{waiting}")

    def _step(self) -> int:
        return max((w["step"] for w in self._of("worker")), default=0)

    # -- decisions -----------------------------------------------------------------------------------
    def _start(self, now: float) -> None:
        self.attempt += 1
        self.phase, self.started = "running", now
        for node in self._of("node"):
            node["state"] = "running"
        self._broadcast("node", {"type": "start", "attempt": self.attempt, "resume": self.attempt > 0})

    def _failure(self, message: str, echo: bool = False) -> None:
        if self.phase != "running":
            return  # the first failure is the cause; the rest are its consequences
        if echo:
            if self.pending is None:
                self.pending = (time.monotonic() + ECHO_SECONDS, message)
            return
        self.pending = None
        if self.restarts_left > 0 and self.stop_signal is None:
            self.restarts_left -= 1
            message += f"; restarting from the last checkpoint ({self.restarts_left} restarts left)"
            for channel, peer in list(self.peers.items()):
                if peer["role"] == "worker":
                    self._drop(channel)
                elif peer["role"] == "node":
                    peer["state"] = "halting"
            self._broadcast("node", {"type": "halt", "message": message})
            self.phase, self.deadline = "halting", time.monotonic() + HALT_SECONDS
        else:
            self._abort(message)

    def _abort(self, message: str) -> None:
        self.phase, self.outcome = "finished", message
        self._broadcast("node", {"type": "abort", "message": message})

    def _finish(self) -> None:
        self.phase = "finished"
        self._broadcast("node", {"type": "done", "stopped_at": self.stopped_at, "signal": self.stop_signal})

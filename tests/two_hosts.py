"""Two hosts on one machine for the cluster tests: two network namespaces joined by a veth pair,
10.231.7.1/24 and 10.231.7.2/24 (private addresses that exist inside these namespaces only).

Host B can run its command with the run directory read-only (a private mount namespace), so that
any write by its ranks fails: what makes "only global rank 0 writes" a tested fact.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADDRESSES = ("10.231.7.1", "10.231.7.2")


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


class TwoHosts:
    def __init__(self, tag: str):
        self.namespaces = (f"pwwm-{tag}-a", f"pwwm-{tag}-b")
        self._veth = (f"pw{tag}a"[:15], f"pw{tag}b"[:15])

    def create(self) -> str | None:
        """Set the hosts up; returns why they cannot be (not root, no iproute2, no netns), else None."""
        if os.geteuid() != 0:
            return "network namespaces need root (CI runs these tests as root)"
        a, b = self.namespaces
        steps = [("netns", "add", a), ("netns", "add", b),
                 ("link", "add", self._veth[0], "type", "veth", "peer", "name", self._veth[1]),
                 ("link", "set", self._veth[0], "netns", a), ("link", "set", self._veth[1], "netns", b)]
        for ns, veth, address in zip(self.namespaces, self._veth, ADDRESSES):
            steps += [("-n", ns, "addr", "add", f"{address}/24", "dev", veth), ("-n", ns, "link", "set", veth, "up"),
                      ("-n", ns, "link", "set", "lo", "up")]
        for step in steps:
            try:
                result = _ip(*step)
            except OSError as error:
                self.destroy()
                return f"cannot run `ip` ({error})"
            if result.returncode != 0:
                self.destroy()
                return f"`ip {' '.join(step)}` failed: {result.stderr.strip()}"
        return None

    def pids(self, host: int) -> list[int]:
        out = _ip("netns", "pids", self.namespaces[host]).stdout
        return [int(p) for p in out.split()]

    def kill_all(self, host: int, sig: int = signal.SIGKILL) -> None:
        for pid in self.pids(host):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def destroy(self) -> None:
        """Kill every process in the namespaces, then delete them (the veth pair goes with them)."""
        for host, ns in enumerate(self.namespaces):
            if ns in _ip("netns", "list").stdout.split():
                for _ in range(50):
                    self.kill_all(host)
                    if not self.pids(host):
                        break
                    time.sleep(0.1)
                _ip("netns", "del", ns)

    def wait_empty(self, host: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.pids(host):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def find(self, host: int, needle: str) -> list[int]:
        """Pids on a host whose command line contains ``needle``."""
        found = []
        for pid in self.pids(host):
            try:
                if needle in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                    found.append(pid)
            except OSError:
                pass
        return found

    def run(self, host: int, args: list[str], log: Path, read_only: Path | None = None,
            writable: tuple[Path, Path] | None = None) -> subprocess.Popen:
        """Start ``python -m paddle_wwm.cli ARGS`` on a host (output to ``log``). With ``read_only``,
        that directory is mounted read-only for the command, and ``writable`` = (source, mount point)
        binds a writable directory inside it."""
        command = [sys.executable, "-m", "paddle_wwm.cli", *args]
        if read_only is not None:
            mounts = f"mount --bind -o ro {shlex.quote(str(read_only))} {shlex.quote(str(read_only))}"
            if writable is not None:
                source, target = writable
                mounts += f" && mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}"
            command = ["unshare", "-m", "sh", "-c", f"{mounts} && exec {shlex.join(command)}"]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.pop("PADDLE_TRAINERS_NUM", None)
        with open(log, "ab") as out:
            return subprocess.Popen(["ip", "netns", "exec", self.namespaces[host], *command], env=env, cwd=REPO,
                                    stdout=out, stderr=subprocess.STDOUT)

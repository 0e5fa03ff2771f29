"""One live job per run directory: a POSIX lock on ``OUTPUT/run.lock`` held by the command that
owns the job (the master node's), with the holder's host and pid written into the file.

The kernel (or the NFS lock manager) releases the lock when its process dies however it dies, so
a lock left by a killed job is stale by construction: the next job takes it and says whose it was.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

from .job_channel import JobError

LOCK_FILE = "run.lock"
logger = logging.getLogger(__name__)


class RunLock:
    def __init__(self, output_dir: str | os.PathLike):
        self.path = Path(output_dir) / LOCK_FILE
        self._fd: int | None = None
        self._created = False

    def acquire(self, address: str | None = None) -> "RunLock":
        """Take the lock or raise JobError naming the live holder."""
        self._created = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno == errno.ENOLCK:
                raise JobError(f"{self.path}: the filesystem does not support POSIX locks; the run directory "
                               "must be on a filesystem that does (local, NFSv4, Lustre, CephFS)") from None
            raise JobError(f"{self.path.parent} is in use by a live job ({_describe(self._read(fd=None))}); "
                           "wait for it to end, stop it, or choose another train.output_dir") from None
        previous = self._read(fd)
        if previous:
            logger.warning("%s: the job that held it (%s) is gone; taking it over", self.path, _describe(previous))
        holder = {"host": socket.gethostname(), "address": address, "pid": os.getpid(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty file: nobody holds it, and nobody has to be reported as stale
        if self._created and [p.name for p in self.path.parent.iterdir()] == [LOCK_FILE]:
            self.path.unlink()  # a job that failed before writing anything leaves no directory behind
            self.path.parent.rmdir()
        os.close(self._fd)  # closing releases the lock
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _read(self, fd: int | None) -> dict:
        try:
            text = os.pread(fd, 4096, 0).decode() if fd is not None else self.path.read_text()
            return json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "holder unknown"
    where = holder.get("host", "?") + (f" ({holder['address']})" if holder.get("address") else "")
    return f"host {where}, pid {holder.get('pid', '?')}, since {holder.get('started', '?')}"

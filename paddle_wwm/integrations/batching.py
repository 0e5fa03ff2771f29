"""Request batching for serving: concurrent predict calls merged into one forward pass.

How PaddleHub's ``hub serving`` calls a module (``paddlehub/commands/serving.py``,
``paddlehub/serving/app_compat.py``):
* single process (the default): Flask with ``threaded=False``, one request at a time. Calls never
  overlap, so a batcher there has nothing to merge.
* ``use_multiprocess``: gunicorn sync workers forked from the process that built the module. Each
  worker takes one request at a time and runs its own copy of the model, and they all compete for
  the cores.

With batching on, the process that builds the module serves the model for all its workers. It
listens on a Unix socket (``BatchServer``). A worker checks its request, then sends it there
(``BatchClient``). A thread (``Batcher``) collects the requests that arrive within a short window
and runs them as one forward pass. The workers only parse, check and pass requests on. Calls made
in the building process itself go to the ``Batcher`` directly.
"""
from __future__ import annotations

import collections
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from multiprocessing.connection import Client, Listener

DEFAULT_WINDOW_MS = 3.0
DEFAULT_MAX_TEXTS = 64
_STOP = object()


class _Request:
    def __init__(self, items: list, key):
        self.items, self.key = items, key
        self.result = self.error = None
        self.done = threading.Event()


class Batcher:
    """Merges the ``submit`` calls that arrive within ``window_ms`` of the first one (up to
    ``max_texts`` items; a larger request runs alone) into one ``run(items, key)`` call per
    ``key``. ``run`` returns one result per item. Each caller gets its own items' results, in
    order. If a merged call fails, its requests run again one at a time, so a failure reaches
    only the request that caused it."""

    def __init__(self, run, window_ms: float = DEFAULT_WINDOW_MS, max_texts: int = DEFAULT_MAX_TEXTS):
        if not window_ms >= 0 or not isinstance(max_texts, int) or max_texts < 1:
            raise ValueError(f"batching needs window_ms >= 0 and max_texts >= 1, got {window_ms!r}, {max_texts!r}")
        self.run, self.window, self.max_texts = run, window_ms / 1000, max_texts
        # (requests, items) of the latest merged runs, for tests and stats; bounded, since a server runs for days
        self.flushes: collections.deque[tuple[int, int]] = collections.deque(maxlen=1024)
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread = None
        self._closed = False

    def submit(self, items: list, key=None) -> list:
        request = _Request(list(items), key)
        with self._lock:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="paddle-wwm-batcher", daemon=True)
                self._thread.start()
            self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def close(self) -> None:
        """Finish the requests already queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None:
            thread.join()

    def _loop(self) -> None:
        carried = None
        while True:
            first = carried if carried is not None else self._queue.get()
            carried = None
            if first is _STOP:
                return
            batch, size = [first], len(first.items)
            deadline = time.monotonic() + self.window
            while size < self.max_texts:
                try:
                    following = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if following is _STOP or size + len(following.items) > self.max_texts:
                    carried = following  # the first of the next batch (or the stop, after this one)
                    break
                batch.append(following)
                size += len(following.items)
            self._flush(batch)

    def _flush(self, batch: list) -> None:
        groups: dict = {}
        for request in batch:
            groups.setdefault(request.key, []).append(request)
        for key, requests in groups.items():
            self.flushes.append((len(requests), sum(len(r.items) for r in requests)))
            try:
                self._answer(requests, self.run([item for r in requests for item in r.items], key))
            except Exception as error:
                if len(requests) == 1:
                    requests[0].error = error
                    requests[0].done.set()
                    continue
                for request in requests:  # find the request at fault: each alone
                    try:
                        self._answer([request], self.run(request.items, key))
                    except Exception as own_error:
                        request.error = own_error
                        request.done.set()

    @staticmethod
    def _answer(requests: list, results) -> None:
        results = list(results)
        if len(results) != sum(len(r.items) for r in requests):
            raise RuntimeError(f"the batched run gave {len(results)} results for "
                               f"{sum(len(r.items) for r in requests)} items")
        begin = 0
        for request in requests:
            request.result = results[begin:begin + len(request.items)]
            begin += len(request.items)
            request.done.set()


class BatchServer:
    """Passes requests from other processes (connections on a Unix socket in a private
    directory, authenticated with a random key) to a ``Batcher``: one thread per connection."""

    def __init__(self, batcher: Batcher):
        self.batcher = batcher
        self._directory = tempfile.mkdtemp(prefix="paddle-wwm-batch-")
        self.address = os.path.join(self._directory, "socket")
        self.authkey = os.urandom(32)
        self._listener = Listener(self.address, "AF_UNIX", authkey=self.authkey)
        self._connections: list = []
        self._threads: list = []
        self._closed = False
        self._accepting = threading.Thread(target=self._accept, name="paddle-wwm-batch-accept", daemon=True)
        self._accepting.start()

    def client(self) -> "BatchClient":
        return BatchClient(self.address, self.authkey)

    def _accept(self) -> None:
        while True:
            try:
                connection = self._listener.accept()
            except (OSError, EOFError):  # closed, or a peer that failed authentication
                if self._closed:
                    return
                continue
            if self._closed:
                connection.close()
                return
            thread = threading.Thread(target=self._serve, args=(connection,), name="paddle-wwm-batch-conn",
                                      daemon=True)
            self._connections.append(connection)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection) -> None:
        while True:
            try:
                items, key = connection.recv()
            except (EOFError, OSError):
                return
            try:
                reply = ("ok", self.batcher.submit(items, key))
            except Exception as error:
                reply = ("error", error)
            try:
                connection.send(reply)
            except Exception as error:  # an answer or exception that does not pickle, or a peer gone
                try:
                    connection.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))
                except OSError:
                    return

    def close(self) -> None:
        """Stop accepting, end every connection, wait for their threads, remove the socket."""
        self._closed = True
        try:
            Client(self.address, "AF_UNIX", authkey=self.authkey).close()  # wakes the blocked accept()
        except OSError:
            pass
        self._accepting.join()
        self._listener.close()
        for connection in self._connections:
            try:  # wakes the thread blocked in recv(): it sees end of file
                socket.socket(fileno=os.dup(connection.fileno())).shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join()
        for connection in self._connections:
            connection.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class BatchClient:
    """A process's connection to a ``BatchServer``: ``submit`` as the ``Batcher``'s, the
    server's exception re-raised here. Thread-safe (one call on the wire at a time)."""

    def __init__(self, address: str, authkey: bytes):
        self.address, self.authkey = address, authkey
        self._connection = None
        self._lock = threading.Lock()

    def submit(self, items: list, key=None) -> list:
        with self._lock:
            if self._connection is None:
                self._connection = Client(self.address, "AF_UNIX", authkey=self.authkey)
            self._connection.send((list(items), key))
            status, value = self._connection.recv()
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

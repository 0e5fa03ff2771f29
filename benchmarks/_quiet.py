"""Wait until the machine is idle (other processes share these 2 cores), for steadier timings."""
from __future__ import annotations

import time


def _cpu_times():
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]), idle


def busy_fraction(interval: float = 0.5) -> float:
    """Fraction of all CPUs busy over `interval` seconds (call it while this process is idle)."""
    try:
        total0, idle0 = _cpu_times()
        time.sleep(interval)
        total1, idle1 = _cpu_times()
    except OSError:
        return 0.0
    total = total1 - total0
    return 0.0 if total <= 0 else 1.0 - (idle1 - idle0) / total


def wait_quiet(threshold: float = 0.10, timeout: float = 60.0, interval: float = 0.5) -> float:
    """Block until less than `threshold` of the CPUs is busy (or `timeout` passes); returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        busy = busy_fraction(interval)
        if busy < threshold or time.monotonic() > deadline:
            return busy

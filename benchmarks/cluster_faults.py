"""How fast a 2-node job ends after each fault: runs the fault tests of tests/test_cluster.py (two
network namespaces on this machine, as root) and collects the figures they print.

    python benchmarks/cluster_faults.py            # writes benchmarks/results_cluster_faults.json
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = "killed_host or sigterm or sigkill or stopped_rank"


def main() -> int:
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="cluster-faults-") as basetemp:
        command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--basetemp={basetemp}",
                   "tests/test_cluster.py", "-k", TESTS]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                env=dict(os.environ, PYTHONPATH=ROOT))
    command = [arg if not arg.startswith("--basetemp=") else "--basetemp=TMP" for arg in command]
    figures, messages, current = {}, {}, None
    for line in result.stdout.splitlines():
        figure = re.match(r"^cluster figure: (.+) ([0-9.]+) s$", line)
        if figure:
            current = figure.group(1)
            figures[current] = float(figure.group(2))
        elif line.startswith("cluster message: ") and current is not None:
            messages.setdefault(current, []).append(line[len("cluster message: "):].replace(basetemp, "TMP"))
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    report = {"command": "python benchmarks/cluster_faults.py", "tests": " ".join(command[2:]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), "cpus": os.cpu_count(),
              "python": platform.python_version(), "pytest": summary, "seconds_until_every_process_is_gone": figures,
              "messages": messages}
    for name, seconds in figures.items():
        print(f"{seconds:6.1f} s  {name}")
    print(summary)
    with open(os.path.join(ROOT, "benchmarks", "results_cluster_faults.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())

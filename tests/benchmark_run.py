"""Run a benchmark script's --quick mode in a fresh process, as a user would, and read its record."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_quick(script: str, out: Path, *args: str) -> tuple[dict, str]:
    """(the JSON record written to ``out``, stdout) of ``benchmarks/<script> --quick``; fails the
    test with the end of its output when the script fails."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), done.stdout

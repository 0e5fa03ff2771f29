"""Interleaved rounds of worker processes, one per implementation, for the training benchmarks.

Each implementation runs in its own process (paddle and torch each bring their OpenMP and MKL; one
in the process slows the other); every round runs every implementation once, the machine idle in
between, so that noise hits all alike. A worker prints one JSON line with its step ``times``.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from _quiet import wait_quiet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_worker(script: str, impl: str, args: list[str]) -> dict:
    command = [sys.executable, os.path.abspath(script), "--worker", impl, *args]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = result.stderr.strip().splitlines()
        return {"error": tail[-1] if tail else f"exit {result.returncode}"}
    return json.loads(lines[-1])


def interleaved(script: str, impls: list[str], args: list[str], rounds: int) -> tuple[dict, dict, dict]:
    """({impl: all step times}, {impl: error}, {impl: the last worker output})."""
    times = {impl: [] for impl in impls}
    errors, last = {}, {}
    for _ in range(rounds):
        for impl in impls:
            if impl in errors:
                continue
            wait_quiet()
            out = run_worker(script, impl, args)
            if "error" in out:
                errors[impl] = out["error"]
                continue
            times[impl].extend(out["times"])
            last[impl] = out
    return times, errors, last


def median_rows(times: dict, units_per_step: float, unit: str) -> dict:
    """{impl: {seconds_per_step, <unit>_per_second, runs, range_seconds}} from the step times."""
    rows = {}
    for impl, values in times.items():
        if values:
            median = statistics.median(values)
            rows[impl] = {"seconds_per_step": median, f"{unit}_per_second": units_per_step / median,
                          "runs": len(values), "range_seconds": [min(values), max(values)]}
    return rows


def time_steps(step, steps: int, warmup: int) -> dict:
    """What a worker prints: the times of ``steps`` calls of ``step()`` after ``warmup`` untimed
    ones, and every loss ``step()`` returned."""
    import time

    losses = [step() for _ in range(warmup)]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - start)
    return {"times": times, "losses": losses}


def add_ratios(rows: dict, subjects, references, unit: str) -> None:
    """rows[subject]["vs_<reference>"] = subject's rate / reference's rate, where both ran."""
    for reference in references:
        for subject in subjects:
            if subject in rows and reference in rows:
                rows[subject][f"vs_{reference}"] = rows[subject][f"{unit}_per_second"] / rows[reference][f"{unit}_per_second"]


def print_rows(title: str, rows: dict, errors: dict, unit: str, width: int = 18) -> None:
    print(f"== {title}")
    for impl, row in rows.items():
        ratios = ", ".join(f"{v:.2f}x {k[3:]}" for k, v in row.items() if k.startswith("vs_"))
        print(f"  {impl:{width}s} {row[f'{unit}_per_second']:8.2f}  ({row['seconds_per_step']:.2f} s/step) {ratios}")
    for impl, error in errors.items():
        print(f"  {impl:{width}s} failed: {error}")


def write_results(path: str | None, results: dict) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


def torch_update(model, optimizer, loss) -> float:
    """backward, clip at 1.0, step, zero the gradients: the torch side of a training step."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss)


def paddle_update(optimizer, loss) -> float:
    """backward, step (clipping is in the optimizer), clear the gradients: the paddle side."""
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()
    return float(loss)

"""One LayerNorm call, forward + backward, on CPU: Paddle's kernel, ours, a composite, torch.

Shapes [16 * 128, 768] (rbt3, BERT-base) and [16 * 128, 1024] (BERT-large width), epsilon 1e-12,
gradients of x, weight and bias. Implementations (paddle ones in one process, torch in another):
  paddle      paddle.nn.functional.layer_norm (Paddle's fused forward and backward kernels)
  ours        paddle_wwm.modeling.layer_norm (Paddle's forward kernel, the hand-written backward)
  composite   mean / variance / rsqrt ops, differentiated by Paddle's autograd
  torch       torch.nn.functional.layer_norm
The figure is the fastest of --reps calls after warm-up (the minimum is the least disturbed by
other processes on a shared machine), in milliseconds.

    python benchmarks/bench_layer_norm.py [--reps 30] [--out benchmarks/results_layer_norm.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from _rounds import write_results  # noqa: E402

ROWS, WIDTHS, EPSILON = 16 * 128, (768, 1024), 1e-12
PADDLE_IMPLS, TORCH_IMPLS = ["paddle", "ours", "composite"], ["torch"]


def fastest(call, reps: int) -> tuple[float, float]:
    """(forward ms, backward ms), each the minimum over reps, of call() -> (run_forward, run_backward)."""
    forward_times, backward_times = [], []
    for i in range(reps + 3):
        run_forward, run_backward = call()
        start = time.perf_counter()
        out = run_forward()
        middle = time.perf_counter()
        run_backward(out)
        end = time.perf_counter()
        if i >= 3:
            forward_times.append(middle - start)
            backward_times.append(end - middle)
    return min(forward_times) * 1e3, min(backward_times) * 1e3


def paddle_worker(reps: int) -> dict:
    from paddle_wwm import runtime

    runtime.configure_cpu()
    import paddle
    import paddle.nn.functional as F

    from paddle_wwm.modeling.layer_norm import layer_norm

    def composite(x, weight, bias):
        centred = x - x.mean(-1, keepdim=True)
        variance = (centred * centred).mean(-1, keepdim=True)
        return centred * paddle.rsqrt(variance + EPSILON) * weight + bias

    functions = {"paddle": lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b, EPSILON),
                 "ours": lambda x, w, b: layer_norm(x, w, b, EPSILON), "composite": composite}
    results = {}
    for width in WIDTHS:
        paddle.seed(0)
        x = paddle.randn([ROWS, width])
        x.stop_gradient = False
        weight = paddle.create_parameter([width], "float32")
        bias = paddle.create_parameter([width], "float32")
        grad_out = paddle.randn([ROWS, width])

        def backward(out):
            out.backward(grad_out)
            for tensor in (x, weight, bias):
                tensor.clear_gradient()

        for name, function in functions.items():
            results[f"{name} {width}"] = fastest(lambda: (lambda: function(x, weight, bias), backward), reps)
    return results


def torch_worker(reps: int) -> dict:
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    results = {}
    for width in WIDTHS:
        torch.manual_seed(0)
        x = torch.randn(ROWS, width, requires_grad=True)
        layer = torch.nn.LayerNorm(width, eps=EPSILON)
        grad_out = torch.randn(ROWS, width)

        def backward(out):
            out.backward(grad_out)
            x.grad = None
            layer.zero_grad(set_to_none=True)

        results[f"torch {width}"] = fastest(lambda: (lambda: layer(x), backward), reps)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", choices=["paddle", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps((paddle_worker if args.worker == "paddle" else torch_worker)(args.reps)))
        return
    from bench_forward import cpu_flags_line

    from paddle_wwm import runtime

    flags = runtime.isa_flags()
    print(cpu_flags_line())
    timings = {}
    for worker in ("paddle", "torch"):
        result = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", worker, "--reps", str(args.reps)],
                                capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT), check=True)
        timings.update(json.loads(result.stdout.strip().splitlines()[-1]))
    rows = {}
    print(f"== one LayerNorm call on [{ROWS}, width], fp32, ms (fastest of {args.reps})")
    for width in WIDTHS:
        for impl in PADDLE_IMPLS + TORCH_IMPLS:
            forward, backward = timings[f"{impl} {width}"]
            rows.setdefault(str(width), {})[impl] = {"forward_ms": forward, "backward_ms": backward,
                                                     "total_ms": forward + backward}
            print(f"  width {width:5d} {impl:10s} forward {forward:6.2f}  backward {backward:6.2f}  "
                  f"total {forward + backward:6.2f}")
    write_results(args.out, {"rows": ROWS, "epsilon": EPSILON, "cpu_count": os.cpu_count(), "cpu_flags": flags,
                             "widths": rows})


if __name__ == "__main__":
    main()

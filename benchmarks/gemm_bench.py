"""fp32 (and bf16) GEMM throughput with the shapes BERT-base uses, in numpy / torch / paddle.

One library and one thread setting per process (thread runtimes and MKL env vars are
process-global), e.g.
    python benchmarks/gemm_bench.py --lib paddle --threads 2
    MKL_DEBUG_CPU_TYPE=5 python benchmarks/gemm_bench.py --lib paddle --threads 2
    python benchmarks/gemm_bench.py --all          # drives every combination in subprocesses
Prints GFLOP/s per shape (median of timed repetitions) and CPU-time/wall-time (≈ threads used).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HIDDEN, INTER, HEADS, HEAD, SEQ = 768, 3072, 12, 64, 128


def shapes(batch):
    m = batch * SEQ
    return [
        (f"B{batch} qkv  [{m},768]x[768,2304]", (m, HIDDEN), (HIDDEN, 3 * HIDDEN), False),
        (f"B{batch} out  [{m},768]x[768,768]", (m, HIDDEN), (HIDDEN, HIDDEN), False),
        (f"B{batch} ffn1 [{m},768]x[768,3072]", (m, HIDDEN), (HIDDEN, INTER), False),
        (f"B{batch} ffn2 [{m},3072]x[3072,768]", (m, INTER), (INTER, HIDDEN), False),
        (f"B{batch} QK^T [{batch},12,128,64]x[..,64,128]", (batch, HEADS, SEQ, HEAD), (batch, HEADS, HEAD, SEQ), True),
        (f"B{batch} PV   [{batch},12,128,128]x[..,128,64]", (batch, HEADS, SEQ, SEQ), (batch, HEADS, SEQ, HEAD), True),
    ]


def flops(a, b):
    batch = 1
    for d in a[:-2]:
        batch *= d
    return 2.0 * batch * a[-2] * a[-1] * b[-1]


def timeit(fn, min_time=0.6, min_reps=5):
    for _ in range(2):
        fn()
    times = []
    start = time.perf_counter()
    cpu0 = time.process_time()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - start
    return statistics.median(times), cpu / wall


def run_one(lib, threads, mode, batches, dtype):
    import numpy as np
    rng = np.random.default_rng(0)
    results = {}
    if lib == "numpy":
        def make(shape_a, shape_b, batched):
            a = rng.standard_normal(shape_a, dtype=np.float32)
            b = rng.standard_normal(shape_b, dtype=np.float32)
            return lambda: np.matmul(a, b)
    elif lib == "torch":
        import torch
        torch.set_num_threads(threads)
        tdt = torch.bfloat16 if dtype == "bfloat16" else torch.float32

        def make(shape_a, shape_b, batched):
            a = torch.from_numpy(rng.standard_normal(shape_a, dtype=np.float32)).to(tdt)
            b = torch.from_numpy(rng.standard_normal(shape_b, dtype=np.float32)).to(tdt)
            if mode == "linear" and not batched:
                w = b.t().contiguous()  # torch Linear weights are [out, in]
                bias = torch.zeros(shape_b[1], dtype=tdt)
                f = lambda: torch.nn.functional.linear(a, w, bias)
            else:
                f = lambda: torch.matmul(a, b)

            def g():
                with torch.inference_mode():
                    f()
            return g
    elif lib == "paddle":
        import paddle
        import paddle.nn.functional as F
        if os.environ.get("BENCH_PADDLE_THREADS_API", "core") == "core":
            paddle.base.core.set_num_threads(threads)  # what paddle_wwm.runtime does
        if os.environ.get("BENCH_ONEDNN") == "1":
            paddle.set_flags({"FLAGS_use_mkldnn": True})
        paddle.set_device("cpu")

        def make(shape_a, shape_b, batched):
            a = paddle.to_tensor(rng.standard_normal(shape_a, dtype=np.float32)).astype(dtype)
            b = paddle.to_tensor(rng.standard_normal(shape_b, dtype=np.float32)).astype(dtype)
            if mode == "linear" and not batched:
                bias = paddle.zeros([shape_b[1]], dtype=dtype)
                f = lambda: F.linear(a, b, bias)
            else:
                f = lambda: paddle.matmul(a, b)

            def g():
                with paddle.no_grad():
                    f()
            return g
    else:
        raise SystemExit(f"unknown lib {lib}")

    for batch in batches:
        for name, sa, sb, batched in shapes(batch):
            try:
                fn = make(sa, sb, batched)
                t, util = timeit(fn)
                results[name] = {"gflops": flops(sa, sb) / t / 1e9, "ms": t * 1e3, "cpu_util": util}
            except Exception as error:  # e.g. no bf16 kernel
                results[name] = {"error": str(error).splitlines()[0][:200]}
    return results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lib", choices=["numpy", "torch", "paddle"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mode", choices=["matmul", "linear"], default="matmul")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--batches", default="1,32")
    p.add_argument("--json", action="store_true", help="print one JSON line only")
    p.add_argument("--all", action="store_true", help="run the standard matrix in subprocesses")
    p.add_argument("--rounds", type=int, default=1, help="with --all: repeat the matrix, keep each cell's best")
    p.add_argument("--shim", help="with --all: also run paddle with this LD_PRELOAD'ed mkl_serv_intel_cpu_true shim")
    args = p.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    if args.all:
        env0 = {k: v for k, v in os.environ.items()
                if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_DEBUG_CPU_TYPE",
                             "LD_PRELOAD")}
        shim = args.shim
        rows = []
        combos = [(0, "paddle", "matmul", {"BENCH_PADDLE_THREADS_API": "none"})]  # paddle as installed
        for threads in (1, 2):
            combos += [(threads, lib, mode, extra) for lib, mode, extra in [
                ("numpy", "matmul", {}), ("torch", "matmul", {}), ("torch", "linear", {}),
                ("paddle", "matmul", {}), ("paddle", "linear", {}),
                ("paddle", "matmul", {"MKL_DEBUG_CPU_TYPE": "5"}),
                ("paddle", "linear", {"MKL_DEBUG_CPU_TYPE": "5"}),
            ] + ([("paddle", "matmul", {"LD_PRELOAD": shim})] if shim else [])]
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _quiet import wait_quiet
        for threads, lib, mode, extra in [c for _ in range(args.rounds) for c in combos]:
                busy = wait_quiet()
                env = dict(env0, **extra)
                if lib != "paddle":  # paddle's threads are set with core.set_num_threads (see above)
                    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                               OPENBLAS_NUM_THREADS=str(threads))
                out = subprocess.run([sys.executable, __file__, "--lib", lib, "--threads", str(threads or 1),
                                      "--mode", mode, "--batches", args.batches, "--json"],
                                     env=env, capture_output=True, text=True)
                line = [l for l in out.stdout.splitlines() if l.startswith("{")]
                if not line:
                    print(out.stderr[-2000:])
                    continue
                res = json.loads(line[-1])
                label = f"{lib}.{mode} t={threads or 'default'}" + "".join(
                    f" {k}={os.path.basename(v)}" for k, v in extra.items() if k != "BENCH_PADDLE_THREADS_API")
                prev = dict(rows).get(label)
                if prev:  # several rounds: keep each shape's best (other jobs share this machine)
                    for n, r in res.items():
                        if r.get("gflops", 0) < prev[n].get("gflops", 0):
                            res[n] = prev[n]
                    rows = [(l, res if l == label else r) for l, r in rows]
                else:
                    rows.append((label, res))
                util = statistics.mean(r.get("cpu_util", 0) for r in res.values())
                print(f"{label}  (cpu/wall {util:.2f}, machine busy before {busy:.0%})", flush=True)
        names = list(rows[0][1].keys())
        print("\nGFLOP/s (median);  columns = shapes")
        print(f"{'config':<44}" + "".join(f"{n.split()[1]+'/'+n.split()[0]:>11}" for n in names))
        for label, res in rows:
            print(f"{label:<44}" + "".join(
                f"{res[n].get('gflops', float('nan')):>11.1f}" for n in names))
        return

    res = run_one(args.lib, args.threads, args.mode, batches, args.dtype)
    if args.json:
        print(json.dumps(res))
    else:
        for name, r in res.items():
            if "error" in r:
                print(f"{name:<44} ERROR {r['error']}")
            else:
                print(f"{name:<44} {r['gflops']:8.1f} GFLOP/s {r['ms']:9.3f} ms  cpu/wall {r['cpu_util']:.2f}")


if __name__ == "__main__":
    main()

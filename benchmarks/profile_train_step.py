"""Where a CPU training step goes, per operator: ours (paddle profiler) or transformers (torch
profiler), rbt3, the bench_pretrain.py step (batch 16 x 128, MLM head at 20 masked positions).

    python benchmarks/profile_train_step.py --impl ours     # then: --impl hf (its own process)

The README's reading of bench_pretrain.py's gap (GEMMs equal; Paddle's LayerNorm backward about
14 ms a call against torch's 1 ms) comes from these two tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_pretrain import make_step  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", choices=["ours", "hf"], default="ours")
    parser.add_argument("--rows", type=int, default=60)
    args = parser.parse_args()
    step = make_step("ours" if args.impl == "ours" else "hf-masked", "rbt3")
    for _ in range(2):  # warm-up
        step()
    if args.impl == "ours":
        import paddle.profiler as profiler

        prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU])
        prof.start()
        step()
        prof.stop()
        prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False, time_unit="ms")
    else:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()

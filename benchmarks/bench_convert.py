"""Time and peak memory to read a BERT-base-sized checkpoint from each released format: our numpy
readers against torch.load and tf.train.load_checkpoint.

Setup (in a subprocess that imports torch and tensorflow): random weights in the real layouts are
written to a temporary directory: pytorch_model.bin as transformers names it (torch.save's zip format
and its legacy format) and a Google-named TensorFlow checkpoint (bert_model.ckpt.*). Then every
(format, reader) pair runs in a fresh process, interleaved over --rounds, that imports its library,
reads every tensor into numpy and touches every byte (a sum), and reports the wall time of the read
and its peak RSS (ru_maxrss) before and after. "ours, convert" also runs read_checkpoint, the whole
conversion to our canonical state (names, fused q/k/v). The table gives medians and our/their ratios.

Run: PYTHONPATH=. python benchmarks/bench_convert.py [--quick] [--rounds N] [--json results_convert.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = dict(vocab_size=21128, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
            max_position_embeddings=512, type_vocab_size=2)
QUICK = dict(BASE, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
# (format, reader): the file each reads
CASES = [("torch zip", "ours"), ("torch zip", "torch.load"), ("torch legacy", "ours"), ("torch legacy", "torch.load"),
         ("tensorflow", "ours"), ("tensorflow", "tf reader"), ("torch zip", "ours, convert"),
         ("tensorflow", "ours, convert")]
FILES = {"torch zip": "hf/pytorch_model.bin", "torch legacy": "hf_legacy/pytorch_model.bin",
         "tensorflow": "tf/bert_model.ckpt"}


def write_checkpoints(root: Path, config: dict) -> None:
    import numpy as np
    import tensorflow as tf
    import torch
    import transformers

    sys.path.insert(0, str(ROOT / "tools"))
    from make_tf_fixture import google_variables

    hf_config = transformers.BertConfig(**config)
    state = transformers.BertForPreTraining(hf_config).state_dict()
    for folder, zip_format in (("hf", True), ("hf_legacy", False)):
        (root / folder).mkdir()
        hf_config.save_pretrained(root / folder)
        torch.save(state, root / folder / "pytorch_model.bin", _use_new_zipfile_serialization=zip_format)
    del state
    rng = np.random.default_rng(0)
    (root / "tf").mkdir()
    variables = {name: tf.Variable((rng.standard_normal(shape) * 0.02).astype(np.float32), name=name.replace("/", "_"))
                 for name, shape in google_variables(config).items()}
    saver = tf.compat.v1.train.Saver(var_list=variables)
    saver.save(None, str(root / "tf" / "bert_model.ckpt"), write_meta_graph=False)
    (root / "tf" / "bert_config.json").write_text(json.dumps(dict(config, hidden_act="gelu")))
    vocab = (ROOT / "paddle_wwm" / "data" / "vocab.txt").read_text("utf-8")
    for folder in ("hf", "hf_legacy", "tf"):
        (root / folder / "vocab.txt").write_text(vocab, "utf-8")


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(fmt: str, reader: str, root: Path) -> dict:
    path = root / FILES[fmt]
    if reader == "torch.load":
        import torch

        def read():
            return {k: v.numpy() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}
    elif reader == "tf reader":
        import tensorflow as tf

        def read():
            checkpoint = tf.train.load_checkpoint(str(path))
            return {k: checkpoint.get_tensor(k) for k in checkpoint.get_variable_to_shape_map()}
    elif reader == "ours, convert":
        from paddle_wwm.checkpoints import read_checkpoint

        def read():
            return read_checkpoint(path.parent).state
    else:
        from paddle_wwm.checkpoints.tf_format import read_tf_bundle
        from paddle_wwm.checkpoints.torch_format import read_torch_state

        def read():
            return read_tf_bundle(path) if fmt == "tensorflow" else read_torch_state(path)
    before = _rss_mb()
    start = time.perf_counter()
    state = read()
    total = sum(float(value.sum(dtype="float64")) for value in state.values())  # touch every byte
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": _rss_mb(), "baseline_mb": before, "tensors": len(state), "checksum": total}


def checkpoint_mb(root: Path, fmt: str) -> float:
    path = root / FILES[fmt]
    files = [path] if path.is_file() else list(path.parent.glob(path.name + ".*"))
    return sum(f.stat().st_size for f in files) / 2**20


def run_case(fmt, reader, root) -> dict:
    command = [sys.executable, __file__, "--worker", fmt, reader, str(root)]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    return json.loads(lines[-1])


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.strip() for line in handle if line.startswith("flags")), "flags: unknown")
    except OSError:
        return "flags: unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 4-layer, 256-wide model instead of BERT-base")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3, --quick 1)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--setup", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:  # in its own process: torch and tensorflow stay out of the measuring parent
        write_checkpoints(Path(args.setup[0]), json.loads(args.setup[1]))
        return
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], Path(args.worker[2]))))
        return
    config = QUICK if args.quick else BASE
    rounds = args.rounds or (1 if args.quick else 3)
    print(cpu_flags())
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        root = Path(tmp)
        setup = subprocess.run([sys.executable, __file__, "--setup", tmp, json.dumps(config)],
                               capture_output=True, text=True)
        if setup.returncode:
            sys.exit("setup failed: " + setup.stderr[-2000:])
        sizes = {fmt: checkpoint_mb(root, fmt) for fmt in FILES}
        runs = {case: [] for case in CASES}
        for _ in range(rounds):
            for case in CASES:
                runs[case].append(run_case(*case, root))
    results = []
    for (fmt, reader), outs in runs.items():
        good = [o for o in outs if "error" not in o]
        if not good:
            results.append({"format": fmt, "reader": reader, "error": outs[-1]["error"]})
            continue
        results.append({"format": fmt, "reader": reader, "checkpoint_mb": round(sizes[fmt], 1),
                        "seconds": statistics.median(o["seconds"] for o in good),
                        "peak_mb": statistics.median(o["peak_mb"] for o in good),
                        "read_mb": statistics.median(o["peak_mb"] - o["baseline_mb"] for o in good),
                        "checksum": good[-1]["checksum"]})
    print_table(results, config, rounds)
    if args.json:
        Path(args.json).write_text(json.dumps({"config": config, "rounds": rounds, "cpu_flags": cpu_flags(),
                                               "results": results}, indent=1) + "\n")


def print_table(results, config, rounds):
    print(f"\nmodel: {config['num_hidden_layers']} layers x {config['hidden_size']}, median of {rounds} round(s)")
    print(f"{'format':<13} {'reader':<14} {'file MB':>8} {'seconds':>8} {'peak MB':>8} {'read MB':>8}  "
          "ratio ours/theirs")
    theirs = {r["format"]: r for r in results if r["reader"] in ("torch.load", "tf reader") and "error" not in r}
    for r in results:
        if "error" in r:
            print(f"{r['format']:<13} {r['reader']:<14} error: {r['error']}")
            continue
        ratio = ""
        if r["reader"].startswith("ours") and r["format"] in theirs:
            ref = theirs[r["format"]]
            ratio = (f"time {r['seconds'] / ref['seconds']:.2f}, peak {r['peak_mb'] / ref['peak_mb']:.2f}, "
                     f"read {r['read_mb'] / max(ref['read_mb'], 1e-9):.2f}"
                     + ("" if abs(r["checksum"] - ref["checksum"]) <= 1e-6 * max(1.0, abs(ref["checksum"]))
                        or r["reader"].endswith("convert") else "  CHECKSUM DIFFERS"))
        print(f"{r['format']:<13} {r['reader']:<14} {r['checkpoint_mb']:>8.1f} {r['seconds']:>8.2f} "
              f"{r['peak_mb']:>8.0f} {r['read_mb']:>8.0f}  {ratio}")


if __name__ == "__main__":
    main()

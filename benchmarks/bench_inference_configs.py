"""Which Paddle Inference settings make the fp32 export fastest on this CPU, against transformers.

The BERT-base export of bench_forward.py (seq 128, attention mask), run by one predictor per
variant, each in its own process (oneDNN and MKL read process-wide settings), 2 threads:
  onednn          runtime.inference_config as it is (oneDNN kernels, IR optimisation on)
  onednn-noir     oneDNN, IR optimisation off (no fused passes)
  mkl             oneDNN off: Paddle's native CPU kernels (MKL GEMMs), IR optimisation on
  mkl-noir        oneDNN off, IR optimisation off
  onednn-nofc     oneDNN without its fc passes (matmul + add stay separate ops)
  ort             the same program through paddle2onnx, ONNX Runtime fp32, graph optimisation ALL
  hf              transformers BertModel (torch), the reference
Batch 1 latency and batch 32 throughput, `--rounds` interleaved rounds: medians, and the best
sample (on a machine shared with other jobs the best is the steadier estimate). Also prints,
per Paddle variant, the largest difference from the `onednn` variant's output.

    python benchmarks/bench_inference_configs.py [--variants onednn,mkl,hf] [--rounds 2] [--json OUT]
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_forward  # noqa: E402

VARIANTS = ("onednn", "onednn-noir", "mkl", "mkl-noir", "onednn-nofc", "ort", "hf")


def paddle_config(variant: str, prefix: str, threads: int):
    from paddle_wwm import runtime

    config = runtime.inference_config(prefix + ".json", prefix + ".pdiparams", "fp32", threads)
    if variant.startswith("mkl"):
        config.disable_mkldnn()
    if variant.endswith("noir"):
        config.switch_ir_optim(False)
    if variant == "onednn-nofc":
        config.disable_mkldnn_fc_passes()
    if os.environ.get("BENCH_IR_LOG"):
        config.switch_ir_debug(True)
    return config


class PaddleVariant(bench_forward.PaddleInference):
    def __init__(self, args, variant):  # noqa: super().__init__ would build the default config
        from paddle_wwm import runtime
        runtime.configure_cpu(args.threads)
        import numpy as np
        import paddle
        import paddle.inference as paddle_infer
        from paddle_wwm.modeling.bert import BertModel
        from paddle_wwm.modeling.config import BertConfig
        self.np = np
        self.use_mask = True
        prefix = bench_forward.export_ours(args, paddle, BertModel, BertConfig)
        self.predictor = paddle_infer.create_predictor(paddle_config(variant, prefix, args.threads))
        self.input_names = self.predictor.get_input_names()
        self.output_names = self.predictor.get_output_names()


class OrtVariant:
    def __init__(self, args, variant):
        from paddle_wwm import runtime
        runtime.configure_cpu(args.threads)
        import onnxruntime as ort
        import paddle
        import paddle2onnx
        from paddle_wwm.modeling.bert import BertModel
        from paddle_wwm.modeling.config import BertConfig
        prefix = bench_forward.export_ours(args, paddle, BertModel, BertConfig)
        onnx_file = prefix + ".onnx"
        if not os.path.exists(onnx_file):
            paddle2onnx.export(prefix + ".json", prefix + ".pdiparams", save_file=onnx_file, opset_version=14,
                               auto_upgrade_opset=False, enable_onnx_checker=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def prepare(self, batch, seq, vocab):
        ids, mask = bench_forward.make_inputs(batch, seq, vocab)
        self.feeds = {n: {"input_ids": ids, "attention_mask": mask}[n] for n in self.input_names}

    def __call__(self, check=False):
        out = self.session.run(None, self.feeds)
        return out[0] if check else None


def worker(args):
    runner = (bench_forward.TorchHF(args, "hf") if args.worker == "hf" else
              OrtVariant(args, args.worker) if args.worker == "ort" else PaddleVariant(args, args.worker))
    result = {}
    for batch, reps in ((1, args.reps1), (32, 1)):
        runner.prepare(batch, args.seq, bench_forward.BERT_BASE["vocab_size"])
        runner()  # warm-up: builds kernels and caches for this shape
        result[str(batch)] = bench_forward.timed(runner, reps)
    runner.prepare(2, args.seq, bench_forward.BERT_BASE["vocab_size"])
    if args.worker != "hf":
        fd, path = tempfile.mkstemp(suffix=".npy")
        os.close(fd)
        __import__("numpy").save(path, runner(check=True))
        result["output"] = path
    print("@@" + json.dumps(result), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--reps1", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--export-dir", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.no_mask = False
    if args.worker:
        return worker(args)
    print(bench_forward.cpu_flags_line())
    variants = args.variants.split(",")
    samples = {v: {"1": [], "32": []} for v in variants}
    outputs = {}
    for _ in range(args.rounds):
        for variant in variants:
            argv = [sys.executable, __file__, "--worker", variant, "--threads", str(args.threads),
                    "--seq", str(args.seq), "--reps1", str(args.reps1)]
            if args.export_dir:
                argv += ["--export-dir", args.export_dir]
            done = subprocess.run(argv, capture_output=True, text=True)
            line = next((l for l in done.stdout.splitlines() if l.startswith("@@")), None)
            if line is None:
                print(f"# {variant} failed: {done.stderr.strip()[-600:]}")
                continue
            result = json.loads(line[2:])
            for batch in ("1", "32"):
                samples[variant][batch] += result[batch]
            if "output" in result:
                outputs[variant] = __import__("numpy").load(result["output"])
                os.unlink(result["output"])
            time.sleep(0.3)
    rows = {}
    for variant in variants:
        if not samples[variant]["1"]:
            continue
        rows[variant] = {"latency_ms": 1000 * statistics.median(samples[variant]["1"]),
                         "throughput_seq_s": 32 / statistics.median(samples[variant]["32"]),
                         "latency_ms_min": 1000 * min(samples[variant]["1"]),
                         "throughput_seq_s_max": 32 / min(samples[variant]["32"])}
    hf = rows.get("hf")
    print(f"{'variant':14s}{'b1 ms':>9}{'x hf':>7}{'b32 seq/s':>11}{'x hf':>7}{'best: x hf b1':>15}{'b32':>7}"
          f"{'max diff':>10}")
    for variant, row in rows.items():
        if hf:
            row["x_hf_batch1"] = hf["latency_ms"] / row["latency_ms"]
            row["x_hf_batch32"] = row["throughput_seq_s"] / hf["throughput_seq_s"]
            row["best_x_hf_batch1"] = hf["latency_ms_min"] / row["latency_ms_min"]
            row["best_x_hf_batch32"] = row["throughput_seq_s_max"] / hf["throughput_seq_s_max"]
        if variant in outputs and "onednn" in outputs:
            row["max_abs_diff_vs_onednn"] = float(abs(outputs[variant] - outputs["onednn"]).max())
        print(f"{variant:14s}{row['latency_ms']:9.1f}{row.get('x_hf_batch1', 0):7.2f}{row['throughput_seq_s']:11.2f}"
              f"{row.get('x_hf_batch32', 0):7.2f}{row.get('best_x_hf_batch1', 0):15.2f}{row.get('best_x_hf_batch32', 0):7.2f}"
              f"{row.get('max_abs_diff_vs_onednn', float('nan')):10.2e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rounds": args.rounds, "threads": args.threads, "seq": args.seq, "results": rows,
                       "samples": samples}, fh, indent=1)


if __name__ == "__main__":
    main()

"""BERT-base forward speed on CPU: our model vs PaddleNLP vs transformers (torch).

Latency at batch 1 and throughput at batch 32 (seq 128 by default) of a BERT-base config with
random weights (vocab 21128, 12 layers, hidden 768, 12 heads, intermediate 3072) in
  ours          paddle_wwm BertModel, dygraph, eval, paddle.no_grad()
  ours-infer    the same model, paddle.jit.save'd, Paddle Inference with oneDNN, fp32
  ours-bf16     the same export, Paddle Inference with oneDNN bf16 (needs AVX512-BF16/AMX)
  ours-static   ours through paddle_wwm.runtime.cpu_static: paddle.jit.to_static run with oneDNN
                kernels, in process, no export
  ours-static-bf16  the same with paddle AMP O1 bf16 (GEMMs in bf16, softmax/LayerNorm in fp32)
  paddlenlp     paddlenlp.transformers.BertModel, dygraph, eval, no_grad
  hf            transformers.BertModel (torch), eval, inference_mode
  ours-raw      (--with-raw) ours without paddle_wwm.runtime.configure_cpu(): paddle's defaults
All with the same thread count. Each implementation runs in its own worker process (paddle ships
libiomp5 and torch libgomp, and each MKL/oneDNN reads process-wide settings), but the rounds are
interleaved: every round runs every implementation once per batch size, so machine noise hits all
of them alike; the machine is left idle a moment between workers so that OpenMP threads still
spinning in one worker do not steal the cores from the next. `--inprocess` runs everything in this
process instead (to check that the two give the same numbers).

    python benchmarks/bench_forward.py                 # full run
    python benchmarks/bench_forward.py --quick         # short run
    python benchmarks/bench_forward.py --threads 1 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from _quiet import wait_quiet  # noqa: E402

from paddle_wwm import runtime  # noqa: E402  (reads /proc/cpuinfo; imports no paddle)

BERT_BASE = dict(vocab_size=21128, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)
ALL_IMPLS = ["ours", "ours-static", "ours-static-bf16", "ours-infer", "ours-bf16", "paddlenlp", "hf"]
BF16_IMPLS = ("ours-bf16", "ours-static-bf16")
LABELS = {
    "ours": "ours (dygraph)",
    "ours-static": "ours to_static + oneDNN fp32 (runtime.cpu_static)",
    "ours-static-bf16": "ours to_static + oneDNN + AMP bf16 (cpu_static)",
    "ours-infer": "ours exported, Paddle Inference oneDNN fp32",
    "ours-bf16": "ours exported, Paddle Inference oneDNN bf16",
    "paddlenlp": "PaddleNLP BertModel (dygraph)",
    "hf": "transformers BertModel (torch)",
    "ours-raw": "ours (dygraph), paddle defaults (no configure_cpu)",
}


def make_inputs(batch, seq, vocab, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed + batch)
    ids = rng.integers(1, vocab, size=(batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), dtype=np.int64)
    return ids, mask


# ---------------------------------------------------------------------------------------- runners
# Each runner: __init__(args) builds the model; prepare(batch) makes inputs; __call__() runs one
# forward and returns the sequence output as numpy only when asked (check=True).
class PaddleDygraph:
    def __init__(self, args, impl):
        if impl == "ours-raw":
            os.environ["PADDLE_WWM_CONFIGURE_CPU"] = "0"  # building the model would apply it
        else:
            from paddle_wwm import runtime
            self.runtime = runtime.configure_cpu(args.threads)
        import paddle
        self.paddle = paddle
        paddle.set_device("cpu")
        paddle.seed(0)
        if impl == "paddlenlp":
            from paddlenlp.transformers import BertConfig as NLPConfig, BertModel as NLPModel
            self.model = NLPModel(NLPConfig(**BERT_BASE, hidden_act="gelu"))
        else:
            from paddle_wwm.modeling.bert import BertModel
            from paddle_wwm.modeling.config import BertConfig
            self.model = BertModel(BertConfig(**BERT_BASE))
        self.model.eval()
        self.impl = impl
        self.use_mask = not args.no_mask

    def prepare(self, batch, seq, vocab):
        ids, mask = make_inputs(batch, seq, vocab)
        self.ids = self.paddle.to_tensor(ids)
        # PaddleNLP, like ours and HF, turns a [batch, seq] 1/0 mask into an additive bias itself.
        self.mask = self.paddle.to_tensor(mask) if self.use_mask else None

    def __call__(self, check=False):
        with self.paddle.no_grad():
            out = self.model(self.ids, attention_mask=self.mask)
        seq_out = out[0] if isinstance(out, (tuple, list)) else out
        return seq_out.numpy() if check else None


class PaddleStatic(PaddleDygraph):
    """Our model through runtime.cpu_static (to_static with oneDNN kernels, optional AMP bf16)."""

    def __init__(self, args, impl):
        super().__init__(args, "ours")
        from paddle_wwm import runtime
        self.static = runtime.cpu_static(self.model, "bf16" if impl.endswith("bf16") else "fp32")

    def __call__(self, check=False):
        out = self.static(self.ids, attention_mask=self.mask)
        seq_out = out[0] if isinstance(out, (tuple, list)) else out
        return seq_out.astype("float32").numpy() if check else None


class PaddleInference:
    """The model exported once with paddle.jit.save, then run by a Paddle Inference predictor."""

    def __init__(self, args, impl):
        from paddle_wwm import runtime
        runtime.configure_cpu(args.threads)
        import paddle
        from paddle_wwm.modeling.bert import BertModel
        from paddle_wwm.modeling.config import BertConfig
        self.np = __import__("numpy")
        self.use_mask = not args.no_mask
        prefix = export_ours(args, paddle, BertModel, BertConfig)
        self.precision = "bf16" if impl == "ours-bf16" else "fp32"
        config = runtime.inference_config(prefix + ".json", prefix + ".pdiparams", self.precision, args.threads)
        import paddle.inference as paddle_infer
        self.predictor = paddle_infer.create_predictor(config)
        self.input_names = self.predictor.get_input_names()
        self.output_names = self.predictor.get_output_names()

    def prepare(self, batch, seq, vocab):
        ids, mask = make_inputs(batch, seq, vocab)
        feeds = {"input_ids": ids, "attention_mask": mask}
        for name in self.input_names:
            handle = self.predictor.get_input_handle(name)
            handle.reshape(list(feeds[name].shape))
            handle.copy_from_cpu(feeds[name])

    def __call__(self, check=False):
        self.predictor.run()
        # copy the outputs out, as a user must
        outs = [self.predictor.get_output_handle(n).copy_to_cpu() for n in self.output_names]
        return outs[0] if check else None


def export_ours(args, paddle, BertModel, BertConfig):
    """paddle.jit.save our BertModel (seeded, so every worker exports the same weights)."""
    directory = args.export_dir or os.path.join(tempfile.gettempdir(), "paddle_wwm_bench_export")
    suffix = "nomask" if args.no_mask else "mask"
    import hashlib
    import inspect
    from paddle_wwm.modeling import bert as bert_module
    source = inspect.getsource(bert_module)
    source = hashlib.sha1(source.encode()).hexdigest()[:10]  # re-export on edits
    prefix = os.path.join(directory, f"bert_base_seq{args.seq}_{suffix}_{paddle.__version__}_{source}", "model")
    lock = prefix + ".done"
    if os.path.exists(lock):
        return prefix
    paddle.seed(0)
    model = BertModel(BertConfig(**BERT_BASE))
    model.eval()
    from paddle.static import InputSpec

    def specs(seq):
        s = [InputSpec([None, seq], "int64", "input_ids")]
        if not args.no_mask:
            s.append(InputSpec([None, seq], "int64", "attention_mask"))
        return s

    class Wrapper(paddle.nn.Layer):  # forward by keyword, so the mask is the second input
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask=None):
            return self.inner(input_ids, attention_mask=attention_mask)

    class Unchecked(paddle.nn.Layer):
        """BertModel.forward without its Python-level shape checks, which dy2static cannot trace
        with a dynamic batch (`list(mask.shape) != list(ids.shape)` -> bool(Value)); same ops."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask=None):
            from paddle_wwm.modeling.bert import extended_attention_mask
            m = self.inner
            hidden = m.embeddings(input_ids)
            bias = None if attention_mask is None else extended_attention_mask(attention_mask, hidden.dtype)
            for layer in m.layers:
                hidden = layer(hidden, bias)
            return hidden, (m.pooler(hidden) if m.pooler is not None else None)

    attempts = [("model as is, dynamic batch and sequence", Wrapper(model), None),
                (f"model as is, dynamic batch, sequence {args.seq}", Wrapper(model), args.seq),
                (f"forward without shape checks, dynamic batch, sequence {args.seq}", Unchecked(model), args.seq)]
    for how, layer, seq in attempts:
        try:
            paddle.jit.save(layer, prefix, input_spec=specs(seq))
            break
        except Exception as error:
            lines = [l.strip() for l in str(error).strip().splitlines() if l.strip()]
            line = next((l for l in lines if "Error" in l), lines[-1] if lines else "")
            print(f"# export ({how}) failed: {type(error).__name__}: {line[:200]}", file=sys.stderr)
    else:
        raise RuntimeError("could not export the model")
    with open(prefix + ".how", "w") as fh:
        fh.write(how)
    open(lock, "w").close()
    return prefix


class TorchHF:
    def __init__(self, args, impl):
        import torch
        import transformers
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        self.torch = torch
        config = transformers.BertConfig(**BERT_BASE, hidden_act="gelu")
        self.model = transformers.BertModel(config).eval()
        self.use_mask = not args.no_mask

    def prepare(self, batch, seq, vocab):
        ids, mask = make_inputs(batch, seq, vocab)
        self.ids = self.torch.from_numpy(ids)
        self.mask = self.torch.from_numpy(mask) if self.use_mask else None

    def __call__(self, check=False):
        with self.torch.inference_mode():
            out = self.model(input_ids=self.ids, attention_mask=self.mask)
        return out.last_hidden_state.numpy() if check else None


def make_runner(args, impl):
    if impl in ("ours", "paddlenlp", "ours-raw"):
        return PaddleDygraph(args, impl)
    if impl in ("ours-infer", "ours-bf16"):
        return PaddleInference(args, impl)
    if impl in ("ours-static", "ours-static-bf16"):
        return PaddleStatic(args, impl)
    if impl == "hf":
        return TorchHF(args, impl)
    raise ValueError(impl)


def timed(runner, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        runner()
        times.append(time.perf_counter() - t0)
    return times


# ---------------------------------------------------------------------------------------- workers
class LocalWorker:
    def __init__(self, args, impl):
        self.impl = impl
        self.runner = make_runner(args, impl)
        self.batch = None
        self.args = args

    def run(self, batch, reps):
        if batch != self.batch:
            self.runner.prepare(batch, self.args.seq, BERT_BASE["vocab_size"])
            self.batch = batch
        return timed(self.runner, reps)

    def output(self, batch):
        self.runner.prepare(batch, self.args.seq, BERT_BASE["vocab_size"])
        self.batch = batch
        return self.runner(check=True)

    def close(self):
        pass


class ProcessWorker:
    """One implementation in a child process, driven by JSON lines on its stdin/stdout."""

    def __init__(self, args, impl):
        self.impl = impl
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        argv = [sys.executable, os.path.abspath(__file__), "--worker", impl, "--threads", str(args.threads),
                "--seq", str(args.seq)]
        if args.no_mask:
            argv.append("--no-mask")
        if args.export_dir:
            argv += ["--export-dir", args.export_dir]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     stderr=None if args.verbose else subprocess.DEVNULL)
        self._read()  # ready

    def _read(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker {self.impl} died (run with --verbose to see its stderr)")
            if line.startswith("@@"):
                msg = json.loads(line[2:])
                if "error" in msg:
                    raise RuntimeError(f"worker {self.impl}: {msg['error']}")
                return msg

    def _ask(self, **msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def run(self, batch, reps):
        return self._ask(cmd="run", batch=batch, reps=reps)["times"]

    def output(self, batch):
        import numpy as np
        path = self._ask(cmd="output", batch=batch)["path"]
        out = np.load(path)
        os.unlink(path)
        return out

    def close(self):
        try:
            self._ask(cmd="quit")
        except Exception:
            pass
        self.proc.wait(timeout=30)


def worker_main(args):
    def send(**msg):
        sys.stdout.write("@@" + json.dumps(msg) + "\n")
        sys.stdout.flush()
    try:
        worker = LocalWorker(args, args.worker)
    except Exception as error:
        traceback.print_exc()
        send(error=f"{type(error).__name__}: {str(error).strip()[:500]}")
        return
    send(ready=True)
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg["cmd"] == "run":
                send(times=worker.run(msg["batch"], msg["reps"]))
            elif msg["cmd"] == "output":
                import numpy as np
                fd, path = tempfile.mkstemp(suffix=".npy")
                os.close(fd)
                np.save(path, worker.output(msg["batch"]))
                send(path=path)
            elif msg["cmd"] == "quit":
                send(bye=True)
                return
        except Exception as error:
            traceback.print_exc()
            send(error=f"{type(error).__name__}: {str(error).strip()[:500]}")


# ---------------------------------------------------------------------------------------- driver
def environment(args):
    info = {"python": platform.python_version(), "threads": args.threads, "seq": args.seq,
            "attention_mask": not args.no_mask, "mode": "inprocess" if args.inprocess else "subprocess"}
    for mod in ("paddle", "paddlenlp", "torch", "transformers", "numpy"):
        try:
            out = subprocess.run([sys.executable, "-c", f"import {mod}; print({mod}.__version__)"],
                                 capture_output=True, text=True, timeout=120)
            info[mod] = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else None
        except Exception:
            info[mod] = None
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), None)
    except OSError:
        pass
    return info


def cpu_flags_line() -> str:
    """The instruction sets the fast paths depend on, as 'avx2 yes, avx512f no, ...'."""
    return "# CPU: " + ", ".join(f"{name} {'yes' if have else 'no'}" for name, have in runtime.isa_flags().items())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batches", default="1,32", help="latency batch, throughput batch")
    p.add_argument("--impls", default=",".join(ALL_IMPLS), help=f"subset of {ALL_IMPLS + ['ours-raw']}")
    p.add_argument("--with-raw", action="store_true", help="also run ours with paddle's defaults (slow)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 8, --quick 3)")
    p.add_argument("--reps1", type=int, default=None, help="batch-1 forwards per round (default 5, --quick 3)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--inprocess", action="store_true", help="run every implementation in this process")
    p.add_argument("--no-mask", action="store_true", help="call the models without an attention mask")
    p.add_argument("--no-wait", action="store_true", help="do not wait for an idle machine before rounds")
    p.add_argument("--gap", type=float, default=0.3, help="idle seconds between implementations")
    p.add_argument("--export-dir", default=None)
    p.add_argument("--json", metavar="OUT", default=None)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker_main(args)

    impls = [i for i in args.impls.split(",") if i]
    if args.with_raw and "ours-raw" not in impls:
        impls.append("ours-raw")
    if args.inprocess and "ours-raw" in impls:
        # paddle's defaults are process-wide state: ours-raw needs its own process
        impls = [i for i in impls if i != "ours-raw"]
        print("# --inprocess: ours-raw needs its own process; left out")
    rounds = args.rounds or (3 if args.quick else 8)
    reps1 = args.reps1 or (3 if args.quick else 5)
    b_lat, b_thr = [int(b) for b in args.batches.split(",")]

    print(f"# BERT-base forward, seq {args.seq}, {args.threads} thread(s), "
          f"{'in one process' if args.inprocess else 'one worker process per implementation'}, "
          f"{rounds} interleaved rounds", flush=True)
    print(cpu_flags_line(), flush=True)
    workers, failed, not_supported = {}, {}, {}
    for impl in impls:
        lacking = runtime.missing_for("bf16") if impl in BF16_IMPLS else None
        if lacking:
            not_supported[impl] = f"not supported here (the CPU lacks {lacking})"
            print(f"#   {impl}: {not_supported[impl]}", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            workers[impl] = (LocalWorker if args.inprocess else ProcessWorker)(args, impl)
            print(f"#   {impl}: ready in {time.perf_counter() - t0:.0f}s", flush=True)
        except Exception as error:
            failed[impl] = str(error)
            print(f"#   {impl}: FAILED {error}", flush=True)

    # outputs: bf16 against fp32 (same export, same inputs); also dygraph vs export
    diffs = {}
    if "ours-infer" in workers:
        ref = workers["ours-infer"].output(b_lat)
        for other in ("ours-bf16", "ours-static-bf16", "ours-static", "ours"):
            if other in workers:
                out = workers[other].output(b_lat)
                diffs[f"{other} vs ours-infer (fp32), max abs"] = float(abs(out - ref).max())
                diffs[f"{other} vs ours-infer (fp32), mean abs"] = float(abs(out - ref).mean())
        diffs["ours-infer output max abs"] = float(abs(ref).max())

    # warm-up: one-time work (oneDNN primitive creation, allocator growth, weight reorders)
    for impl, worker in workers.items():
        worker.run(b_lat, 2)
        worker.run(b_thr, 1)

    times = {impl: {b_lat: [], b_thr: []} for impl in workers}
    busy = []
    for r in range(rounds):
        if not args.no_wait:
            busy.append(wait_quiet(timeout=30))
        order = list(workers) if r % 2 == 0 else list(reversed(workers))  # no fixed neighbour
        for impl in order:
            time.sleep(args.gap)
            times[impl][b_lat] += workers[impl].run(b_lat, reps1)
            time.sleep(args.gap)
            times[impl][b_thr] += workers[impl].run(b_thr, 1)
        print(f"#   round {r + 1}/{rounds} done", flush=True)
    for worker in workers.values():
        worker.close()

    results = {}
    for impl, by_batch in times.items():
        lat = statistics.median(by_batch[b_lat])
        thr_t = statistics.median(by_batch[b_thr])
        results[impl] = {
            "latency_ms": lat * 1e3,
            "latency_ms_min": min(by_batch[b_lat]) * 1e3,
            "throughput_seq_s": b_thr / thr_t,
            "throughput_seq_s_max": b_thr / min(by_batch[b_thr]),
            "samples": {str(k): v for k, v in by_batch.items()},
        }

    def ratio(impl, key, inverse=False):
        if impl not in results or "hf" not in results:
            return None
        a, b = results[impl][key], results["hf"][key]
        return b / a if inverse else a / b

    print()
    print(f"{'implementation':<48}{'batch ' + str(b_lat) + ' ms':>12}{'x hf':>8}"
          f"{'batch ' + str(b_thr) + ' seq/s':>17}{'x hf':>8}")
    for impl in impls:
        if impl in not_supported:
            print(f"{LABELS[impl]:<48}  {not_supported[impl]}")
            continue
        if impl in failed:
            print(f"{LABELS[impl]:<48}  FAILED: {failed[impl][:60]}")
            continue
        res = results[impl]
        r1, r32 = ratio(impl, "latency_ms", inverse=True), ratio(impl, "throughput_seq_s")
        res["speedup_vs_hf_latency"], res["speedup_vs_hf_throughput"] = r1, r32
        print(f"{LABELS[impl]:<48}{res['latency_ms']:>12.1f}{r1 or float('nan'):>8.2f}"
              f"{res['throughput_seq_s']:>17.2f}{r32 or float('nan'):>8.2f}")
    if diffs:
        print()
        for k, v in diffs.items():
            print(f"{k}: {v:.4g}")

    goals = []

    def goal(name, impl, key, target):
        value = results.get(impl, {}).get(key)
        ok = value is not None and value >= target
        met = "not supported here" if impl in not_supported else ok if impl in results else "not run"
        goals.append({"goal": name, "target": target, "value": value, "met": met})
    goal(f"ours dygraph >= transformers, batch {b_lat}", "ours", "speedup_vs_hf_latency", 1.0)
    goal(f"ours dygraph >= transformers, batch {b_thr}", "ours", "speedup_vs_hf_throughput", 1.0)
    goal(f"ours exported fp32 >= 1.5x transformers, batch {b_lat}", "ours-infer", "speedup_vs_hf_latency", 1.5)
    goal(f"ours exported fp32 >= 1.2x transformers, batch {b_thr}", "ours-infer", "speedup_vs_hf_throughput", 1.2)
    bf16 = [i for i in BF16_IMPLS if i in results]
    best_bf16 = max(bf16, key=lambda i: results[i]["throughput_seq_s"]) if bf16 else "ours-bf16"
    goal(f"ours bf16 ({best_bf16}) >= 2x transformers fp32, batch {b_thr}", best_bf16,
         "speedup_vs_hf_throughput", 2.0)
    print("\ngoals:")
    for g in goals:
        value = "n/a" if g["value"] is None else f"{g['value']:.2f}x"
        if g["met"] in ("not supported here", "not run"):  # never a failure: nothing was measured
            print(f"  [N/A ] {g['goal']}: {g['met']}")
            continue
        print(f"  [{'MET ' if g['met'] else 'MISS'}] {g['goal']}: {value}")
    if busy:
        print(f"\n# machine busy before rounds (other processes): "
              f"median {statistics.median(busy):.0%}, max {max(busy):.0%}")

    if args.json:
        payload = {"environment": environment(args), "rounds": rounds, "reps_batch1_per_round": reps1,
                   "results": results, "output_differences": diffs, "goals": goals, "failed": failed,
                   "not_supported_here": not_supported, "cpu_flags": runtime.isa_flags(),
                   "machine_busy_before_rounds": busy}
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)
        print(f"# wrote {args.json}")


if __name__ == "__main__":
    main()

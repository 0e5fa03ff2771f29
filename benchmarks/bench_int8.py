"""int8 inference on CPU: accuracy and speed of our int8 ONNX export against our fp32 exports and
against transformers quantized through ONNX Runtime the way Optimum does it.

1. Fine-tune a classifier on the real ChnSentiCorp train set (benchmarks/data/chnsenticorp: train.tsv
   and dev.tsv of the seed's own copy, ymcui/Chinese-BERT-wwm @ f6410cb data/chnsenticorp, unchanged;
   Apache-2.0 repository, research corpus): rbt3's
   width (hidden 768, 12 heads, intermediate 3072) with `--layers` layers, random init (no released
   weights can be downloaded here). Defaults sized to train in minutes on 2 shared cores: 1 layer,
   the first 4,000 training texts, one epoch, max_seq_len 64 (`--train`, `--epochs`, `--seq`); the
   accuracy is that of a weak classifier, what matters is int8 against fp32 on the same model. The
   fine-tuned model is cached in the temp directory, keyed by the settings, and reused.
2. Export it: `paddle-wwm export --format inference` (fp32, Paddle Inference + oneDNN),
   `--format onnx` (fp32), `--format onnx --precision int8` (dynamic) and with `--calibration`
   (static, 256 train texts). Convert its weights to transformers (`convert --to huggingface`),
   export transformers' BertForSequenceClassification with torch.onnx (opset 17) and quantize it
   as Optimum's ORTQuantizer does with AutoQuantizationConfig.avx512_vnni(is_static=False,
   per_channel=False) on a VNNI CPU, .avx2(...) otherwise: quantize_dynamic of MatMul (Optimum's
   default operators MatMul and Add; Add has no dynamic int8 kernel), QInt8 weights with VNNI,
   QUInt8 without.
3. Dev accuracy (all 1,200 dev texts, at the fine-tuning max_seq_len) of every ONNX model, and of
   our dygraph model (the fine-tuning run).
4. Speed: seq/s at batch 1 and 32, seq 128, each implementation in its own process, in
   interleaved rounds, 2 threads each.

The CPU's instruction sets are printed first; what needs VNNI is reported as "not supported here"
on a CPU without it.

    python benchmarks/bench_int8.py [--out benchmarks/results_int8.json]
    python benchmarks/bench_int8.py --quick          # 512 train / 200 dev texts, one short round
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _quiet import wait_quiet  # noqa: E402
from _rounds import run_worker, write_results  # noqa: E402

from paddle_wwm import runtime  # noqa: E402  (reads /proc/cpuinfo; imports no paddle)

DATA = HERE / "data" / "chnsenticorp"
WIDTH = dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072)
MAX_SEQ_LEN, THREADS, CALIBRATION_TEXTS = 128, 2, 256  # MAX_SEQ_LEN: of the speed measurement
INPUTS = ("input_ids", "token_type_ids", "attention_mask")
ONNX_MODELS = {"ours-onnx-fp32": "onnx-fp32", "ours-onnx-int8": "onnx-int8", "ours-onnx-int8-static": "onnx-int8-static",
               "hf-onnx-fp32": "hf-onnx-fp32", "hf-onnx-int8": "hf-onnx-int8"}
IMPLS = ["ours-infer-fp32", *ONNX_MODELS]
LABELS = {"ours-infer-fp32": "ours fp32, Paddle Inference + oneDNN", "ours-onnx-fp32": "ours fp32 ONNX, onnxruntime",
          "ours-onnx-int8": "ours int8 ONNX (dynamic), onnxruntime",
          "ours-onnx-int8-static": "ours int8 ONNX (static, calibrated)",
          "hf-onnx-fp32": "transformers fp32, torch.onnx + onnxruntime",
          "hf-onnx-int8": "transformers int8, Optimum-style quantize_dynamic"}


def read_tsv(path: Path, limit: int | None) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]  # header: label, text_a
    rows = [(int(label), text) for label, text in (line.split("\t", 1) for line in lines if line.strip())]
    return rows[:limit] if limit else rows


def finetuned_model(args, work: Path) -> tuple[Path, dict]:
    """The fine-tuned classifier's directory and its run result (dygraph dev accuracy, training time)."""
    key = hashlib.sha1(json.dumps([WIDTH, args.layers, args.epochs, args.lr, args.train, args.dev, args.seq,
                                   (DATA / "train.tsv").stat().st_size]).encode()).hexdigest()[:10]
    cache = Path(tempfile.gettempdir()) / "paddle_wwm_bench_int8" / key
    if (cache / "result.json").is_file():
        return cache / "model", json.loads((cache / "result.json").read_text())
    import paddle

    from paddle_wwm import zoo
    from paddle_wwm.finetuning.config import load_finetune_config
    from paddle_wwm.finetuning.runner import run_seeds
    from paddle_wwm.modeling import BertModel

    data = work / "data"
    data.mkdir(parents=True)
    for split, limit in (("train", args.train), ("dev", args.dev)):
        rows = read_tsv(DATA / f"{split}.tsv", limit)
        (data / f"{split}.tsv").write_text("label\ttext_a\n" + "".join(f"{l}\t{t}\n" for l, t in rows), "utf-8")
    paddle.seed(0)
    BertModel(zoo.zoo_config("rbt3").replace(**WIDTH, num_hidden_layers=args.layers)).save_pretrained(work / "init")
    config = load_finetune_config("chnsenticorp", overrides=[
        f"data.dir={data}", f"model.name={work / 'init'}", f"train.output_dir={cache}", "train.seeds=[1]",
        f"train.epochs={args.epochs}", f"optimizer.learning_rate={args.lr}", f"data.max_seq_len={args.seq}",
        "train.save_model=true"])
    run_seeds(config, progress=True)
    run = next(cache.rglob("result.json"))
    result = json.loads(run.read_text())
    (cache / "result.json").write_text(json.dumps(result))
    (cache / "model").symlink_to(run.parent / result["model_dir"])
    return cache / "model", result


def optimum_style_settings() -> dict:
    """quantize_dynamic's arguments as Optimum's AutoQuantizationConfig for this CPU sets them."""
    from onnxruntime.quantization import QuantType

    vnni = runtime.missing_for("int8-vnni") is None
    return dict(op_types_to_quantize=["MatMul", "Add"], per_channel=False, reduce_range=False,
                weight_type=QuantType.QInt8 if vnni else QuantType.QUInt8,
                extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})


def export_all(model: Path, work: Path) -> dict:
    """Every model of the benchmark under work/; returns {what: seconds it took}."""
    from paddle_wwm.checkpoints import convert
    from paddle_wwm.integrations.export import export

    timings = {}
    rows = read_tsv(DATA / "train.tsv", CALIBRATION_TEXTS)
    (work / "calibration.txt").write_text("".join(t + "\n" for _, t in rows), encoding="utf-8")
    for name, fmt, precision, calibration in (("inference-fp32", "inference", "fp32", None),
                                              ("onnx-fp32", "onnx", "fp32", None),
                                              ("onnx-int8", "onnx", "int8", None),
                                              ("onnx-int8-static", "onnx", "int8", work / "calibration.txt")):
        started = time.perf_counter()
        export(model, work / name, fmt, overwrite=True, precision=precision, calibration=calibration)
        timings[name] = time.perf_counter() - started
    convert(model, work / "hf", layout="huggingface", overwrite=True)
    started = time.perf_counter()
    out = run_worker(__file__, "hf-export", ["--work", str(work)])  # torch in its own process
    if "error" in out:
        raise RuntimeError(f"transformers export failed: {out['error']}")
    timings["hf-onnx-fp32 + int8"] = time.perf_counter() - started
    return timings


def hf_export(work: Path) -> None:
    import torch
    import transformers
    from onnxruntime.quantization import quantize_dynamic

    model = transformers.BertForSequenceClassification.from_pretrained(str(work / "hf")).eval()
    model.config.return_dict = False
    (work / "hf-onnx-fp32").mkdir(exist_ok=True)
    (work / "hf-onnx-int8").mkdir(exist_ok=True)
    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    # transformers' positional order: input_ids, attention_mask, token_type_ids
    torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), str(work / "hf-onnx-fp32" / "model.onnx"),
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    quantize_dynamic(str(work / "hf-onnx-fp32" / "model.onnx"), str(work / "hf-onnx-int8" / "model.onnx"),
                     **optimum_style_settings())
    print(json.dumps({"times": []}))


def session(model_file: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def dev_accuracy(model_file: Path, rows: list[tuple[int, str]], max_seq_len: int, batch_size: int = 32) -> float:
    import numpy as np

    from paddle_wwm.tokenization import BertTokenizer

    run, tokenizer, correct = session(model_file), BertTokenizer(), 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        encoded = tokenizer([t for _, t in chunk], max_seq_len=max_seq_len, padding="longest", return_tensors="np")
        logits = run.run(None, {n: encoded[n].astype(np.int64) for n in INPUTS})[0]
        correct += int((logits.argmax(-1) == np.array([label for label, _ in chunk])).sum())
    return 100.0 * correct / len(rows)


def speed_worker(impl: str, work: Path, reps1: int, reps32: int) -> dict:
    """Seconds per forward at batch 1 (reps1 times) and batch 32 (reps32 times), after a warm-up."""
    import numpy as np

    rng = np.random.default_rng(0)
    if impl == "ours-infer-fp32":
        import paddle.inference as paddle_infer

        from paddle_wwm.integrations.export import inference_model_file

        runtime.configure_cpu(THREADS)
        predictor = paddle_infer.create_predictor(runtime.inference_config(
            inference_model_file(work / "inference-fp32"), str(work / "inference-fp32" / "inference.pdiparams"),
            num_threads=THREADS))

        def forward(feeds):
            for name in predictor.get_input_names():
                handle = predictor.get_input_handle(name)
                handle.reshape(list(feeds[name].shape))
                handle.copy_from_cpu(feeds[name])
            predictor.run()
            return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    else:
        run = session(work / ONNX_MODELS[impl] / "model.onnx")
        forward = lambda feeds: run.run(None, feeds)[0]  # noqa: E731
    times = {}
    for batch, reps in ((1, reps1), (32, reps32)):
        ids = rng.integers(1000, 20000, size=(batch, MAX_SEQ_LEN), dtype=np.int64)
        feeds = {"input_ids": ids, "token_type_ids": np.zeros_like(ids), "attention_mask": np.ones_like(ids)}
        forward(feeds)  # warm-up: kernels, weight packing, allocator
        times[str(batch)] = []
        for _ in range(reps):
            started = time.perf_counter()
            forward(feeds)
            times[str(batch)].append(time.perf_counter() - started)
    return {"times": times}


def measure_speed(work: Path, impls: list[str], rounds: int, reps1: int, reps32: int) -> tuple[dict, dict]:
    samples = {impl: {"1": [], "32": []} for impl in impls}
    errors = {}
    for round_number in range(rounds):
        for impl in impls if round_number % 2 == 0 else reversed(impls):
            if impl in errors:
                continue
            wait_quiet(timeout=30)
            out = run_worker(__file__, impl, ["--work", str(work), "--reps1", str(reps1), "--reps32", str(reps32)])
            if "error" in out:
                errors[impl] = out["error"]
                continue
            for batch in ("1", "32"):
                samples[impl][batch] += out["times"][batch]
        print(f"#   speed round {round_number + 1}/{rounds} done", flush=True)
    rows = {impl: {"batch1_seq_s": 1 / statistics.median(s["1"]), "batch32_seq_s": 32 / statistics.median(s["32"]),
                   "runs": [len(s["1"]), len(s["32"])]} for impl, s in samples.items() if impl not in errors}
    return rows, errors


def goals(accuracy: dict, speed: dict) -> list[dict]:
    found = []
    lacking_vnni = runtime.missing_for("int8-vnni")

    def goal(name, value, target, needs_vnni=False):
        met = "not supported here" if needs_vnni and lacking_vnni else (value is not None and value >= target)
        found.append({"goal": name, "value": value, "target": target, "met": met})

    for impl in ("ours-onnx-int8", "ours-onnx-int8-static"):
        if impl in accuracy:
            goal(f"{impl}: dev accuracy lost <= 0.5 points", -(accuracy["ours-onnx-fp32"] - accuracy[impl]), -0.5)
    for batch in ("batch1", "batch32"):
        ours, hf = speed.get("ours-onnx-int8", {}), speed.get("hf-onnx-int8", {})
        if ours and hf:
            goal(f"ours int8 >= transformers int8 (Optimum-style), {batch}",
                 ours[f"{batch}_seq_s"] / hf[f"{batch}_seq_s"], 1.0)
        fp32 = max((speed[i][f"{batch}_seq_s"] for i in ("ours-infer-fp32", "ours-onnx-fp32") if i in speed), default=None)
        if ours and fp32:
            goal(f"ours int8 >= 1.8x our fastest fp32 export, {batch} (VNNI CPUs)",
                 ours[f"{batch}_seq_s"] / fp32, 1.8, needs_vnni=True)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="512 train / 200 dev texts, one short speed round")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--lr", type=float, default=2e-4, help="random init: more than the 2e-5 of pre-trained models")
    parser.add_argument("--train", type=int, default=4000, help="training texts (the first N of train.tsv)")
    parser.add_argument("--seq", type=int, default=64, help="max_seq_len of fine-tuning and of the accuracy runs")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--impls", nargs="+", default=IMPLS, choices=IMPLS)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--reps1", type=int, default=20, help=argparse.SUPPRESS)
    parser.add_argument("--reps32", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "hf-export":
        return hf_export(Path(args.work))
    if args.worker:
        return print(json.dumps(speed_worker(args.worker, Path(args.work), args.reps1, args.reps32)))
    args.dev = None
    if args.quick:
        args.train, args.dev = 512, 200
    rounds = args.rounds or (1 if args.quick else 2)
    reps1, reps32 = (5, 1) if args.quick else (10, 2)
    flags = runtime.isa_flags()
    print("# CPU: " + ", ".join(f"{name} {'yes' if have else 'no'}" for name, have in flags.items()), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        model, run = finetuned_model(args, work / "finetune")
        print(f"# fine-tuned model: {model} (dygraph dev accuracy {run['dev']['accuracy']:.2f}, "
              f"{time.perf_counter() - started:.0f} s)", flush=True)
        export_seconds = export_all(model, work)
        print(f"# exports: {json.dumps({k: round(v, 1) for k, v in export_seconds.items()})}", flush=True)
        dev = read_tsv(DATA / "dev.tsv", args.dev)
        accuracy = {impl: dev_accuracy(work / directory / "model.onnx", dev, args.seq) for impl, directory in ONNX_MODELS.items()}
        speed, errors = measure_speed(work, args.impls, rounds, reps1, reps32)
    print(f"\n{'implementation':<52}{'dev acc':>9}{'batch 1 seq/s':>15}{'batch 32 seq/s':>16}")
    print(f"{'ours dygraph (the fine-tuning run)':<52}{run['dev']['accuracy']:>9.2f}")
    for impl in args.impls:
        acc = f"{accuracy[impl]:.2f}" if impl in accuracy else "-"
        if impl in errors:
            print(f"{LABELS[impl]:<52}{acc:>9}  FAILED: {errors[impl][:80]}")
            continue
        print(f"{LABELS[impl]:<52}{acc:>9}{speed[impl]['batch1_seq_s']:>15.1f}{speed[impl]['batch32_seq_s']:>16.1f}")
    found = goals(accuracy, speed)
    print("\ngoals:")
    for g in found:
        mark = "N/A " if g["met"] == "not supported here" else "MET " if g["met"] else "MISS"
        value = "not supported here (the CPU lacks " + runtime.missing_for("int8-vnni") + ")" if mark == "N/A " \
            else "n/a" if g["value"] is None else f"{g['value']:.2f}"
        print(f"  [{mark}] {g['goal']}: {value}")
    write_results(args.out, {"cpu_flags": flags, "threads": THREADS, "seq": MAX_SEQ_LEN, "quick": args.quick,
                             "model": {**WIDTH, "num_hidden_layers": args.layers},
                             "finetune_settings": {"train_texts": args.train or "all", "max_seq_len": args.seq,
                                                   "epochs": args.epochs, "lr": args.lr},
                             "finetune": {"dev_accuracy_dygraph": run["dev"]["accuracy"], "train": run["train"]},
                             "export_seconds": export_seconds, "dev_accuracy": accuracy, "speed": speed,
                             "errors": errors, "goals": found})


if __name__ == "__main__":
    main()

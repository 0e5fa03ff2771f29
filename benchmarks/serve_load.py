"""`hub serving` under load: our PaddleHub module (and PaddleHub's own kind of module over the same
weights) served on 127.0.0.1, hit by a bounded client.

The model: a random rbt3-like classifier (rbt3's 3 layers, a small width: SERVED below), 2 classes,
written into a temporary model store and installed into a temporary HUB_HOME as `rbt3`. Served
implementations, each started with `hub serving start -c config.json`:
  ours       hub_modules/rbt3 (paddle_wwm's module, task seq-cls), PaddleHub's single-process Flask
             server (`use_multiprocess: false`, its default: one request at a time)
  ours-batching          the same with request batching on (`batch_window_ms` in init_args)
  ours-workers           ours on PaddleHub's gunicorn server (`use_multiprocess: true`, `--workers`
                         worker processes, each with its own copy of the model)
  ours-workers-batching  the same with request batching on: the workers pass their requests to the
                         process that built the module, which merges those arriving within the
                         window into one forward pass
  paddlehub  PaddleHub's TransformerModule over PaddleNLP's BertForSequenceClassification, built on
             the same weights (`paddle-wwm export --format taskflow`), as bench_hub_predict.py does,
             single process
The client: `--clients` threads (8) share `--requests` requests (2,000) of 1-16 shipped reviews
each; a tenth are malformed (texts mixed with pairs, a non-list, a non-string text, no `data`, a
body that is not JSON). Reported: requests/s, texts/s (texts of good requests answered), p50/p99
latency, and the accounting: every malformed request must get an error answer (PaddleHub's
status other than "000", or an HTTP 4xx), every good one the labels in-process `predict` gives.

    python benchmarks/serve_load.py [--out benchmarks/results_serve_load.json]
    python benchmarks/serve_load.py --quick            # 100 requests
    python benchmarks/serve_load.py --impls ours ours-workers-batching --window-ms 3
With --out, the rows of the implementations run replace theirs in the file; the others stay.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

SERVED = dict(hidden_size=128, num_attention_heads=4, intermediate_size=512)  # rbt3's depth, a small width
LABELS = {0: "negative", 1: "positive"}
MAX_SEQ_LEN, BATCH_SIZE = 128, 16
IMPLS = ("ours", "ours-batching", "ours-workers", "ours-workers-batching", "paddlehub")
DEFAULT_IMPLS = ("ours", "ours-workers", "ours-workers-batching", "paddlehub")
WINDOW_MS, WORKERS = 3.0, 5  # 5: PaddleHub's default workers on 2 cores (2 * cores + 1)
MALFORMED_KINDS = ("mixed singles and pairs", "data not a list", "text not a string", "no data", "not JSON")
PADDLEHUB_STYLE_MODULE = '''
import paddle.nn as nn
import paddle.nn.functional as F
from paddlehub.module.module import moduleinfo
from paddlehub.module.nlp_module import TransformerModule
from paddlenlp.transformers import BertForSequenceClassification, BertTokenizer

WEIGHTS = {weights!r}


@moduleinfo(name="bench-paddlehub-style", version="1.0.0", summary="PaddleHub's pattern on paddle-wwm weights",
            author="benchmark", author_email="", type="nlp/semantic_model", meta=TransformerModule)
class PaddleHubStyle(nn.Layer):
    def __init__(self, task="seq-cls", num_classes=2, label_map=None, **kwargs):
        super(PaddleHubStyle, self).__init__()
        self.model = BertForSequenceClassification.from_pretrained(WEIGHTS)
        self.task = task
        self.label_map = {{int(k): v for k, v in (label_map or {{}}).items()}}
        self.tokenizer = BertTokenizer.from_pretrained(WEIGHTS)

    def forward(self, input_ids, token_type_ids=None):
        return F.softmax(self.model(input_ids, token_type_ids), axis=-1)

    def get_tokenizer(self, *args, **kwargs):
        return self.tokenizer
'''


def reviews() -> list[str]:
    data = ROOT / "paddle_wwm" / "data"
    texts = []
    for name in ("sentiment_pos.txt", "sentiment_neg.txt"):
        texts += [t.strip() for t in (data / name).read_text("utf-8").splitlines() if t.strip()][:500]
    return texts


def make_requests(count: int, texts: list[str], seed: int = 0, max_texts: int = 16) -> list[dict]:
    """[{"body": bytes, "texts": [...] or None (malformed), "kind": ...}]: 1 to max_texts texts each,
    a tenth malformed."""
    rng = random.Random(seed)
    malformed = set(rng.sample(range(count), count // 10))
    requests = []
    for index in range(count):
        chosen = rng.sample(texts, rng.randint(1, max_texts))
        if index not in malformed:
            requests.append({"body": json.dumps({"data": [[t] for t in chosen]}).encode(), "texts": chosen,
                             "kind": "good"})
            continue
        kind = MALFORMED_KINDS[index % len(MALFORMED_KINDS)]
        payload = {"mixed singles and pairs": {"data": [[chosen[0], chosen[0]], [chosen[0]]]},
                   "data not a list": {"data": chosen[0]},
                   "text not a string": {"data": [[t] for t in chosen[:-1]] + [[12345]]},
                   "no data": {"text": chosen}}.get(kind)
        body = json.dumps(payload).encode() if payload else b'{"data": [["unterminated'
        requests.append({"body": body, "texts": None, "kind": kind})
    return requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, body: bytes, timeout: float = 120) -> tuple[int, dict | None]:
    """(HTTP status, the JSON answer or None)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        return error.code, None


def prepare(root: Path, config: dict | None = None) -> None:
    """The random classifier in the store as rbt3, installed into $HUB_HOME; its PaddleNLP export
    and the PaddleHub-style module over it installed too (where PaddleNLP is importable)."""
    import paddle

    from paddle_wwm import store, zoo
    from paddle_wwm.integrations.export import export
    from paddle_wwm.integrations.hub_packaging import install
    from paddle_wwm.modeling import BertForSequenceClassification

    paddle.seed(0)
    model = BertForSequenceClassification(zoo.zoo_config("rbt3").replace(**(config or SERVED)), num_classes=2)
    model.save_pretrained(store.store_dir("rbt3"))
    install("rbt3")
    try:
        import paddlenlp  # noqa: F401
    except ImportError:
        return
    export("rbt3", root / "paddlenlp", "taskflow")
    module_dir = root / "bench-paddlehub-style"
    module_dir.mkdir()
    (module_dir / "module.py").write_text(PADDLEHUB_STYLE_MODULE.format(weights=str(root / "paddlenlp")), "utf-8")
    install(module_dir)


def module_name(impl: str) -> str:
    return "bench-paddlehub-style" if impl == "paddlehub" else "rbt3"


def expected_labels(impl: str, texts: list[str]) -> dict[str, str]:
    """{text: label} from the module's predict, in this process."""
    import paddlehub as hub

    module = hub.Module(name=module_name(impl), task="seq-cls", num_classes=2, label_map=LABELS)
    labels = module.predict([[t] for t in texts], max_seq_len=MAX_SEQ_LEN, batch_size=BATCH_SIZE)
    return dict(zip(texts, labels))


class Server:
    """`hub serving start -c config.json` in its own session, for one module; stopped on exit."""

    def __init__(self, impl: str, root: Path, window_ms: float = WINDOW_MS, workers: int = WORKERS):
        self.port = free_port()
        init_args = {"task": "seq-cls", "num_classes": 2, "label_map": {str(k): v for k, v in LABELS.items()}}
        if impl.endswith("batching"):
            init_args["batch_window_ms"] = window_ms
        config = {"modules_info": {module_name(impl): {"init_args": init_args, "predict_args": {
            "max_seq_len": MAX_SEQ_LEN, "batch_size": BATCH_SIZE}}}, "port": self.port,
            "use_multiprocess": "workers" in impl, "workers": workers, "use_gpu": False}
        (root / f"serving-{impl}.json").write_text(json.dumps(config), encoding="utf-8")
        self.url = f"http://127.0.0.1:{self.port}/predict/{module_name(impl)}"
        self.log_path = root / f"serving-{impl}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(Path(sys.executable).with_name("hub")), "serving", "start", "-c",
                                         str(root / f"serving-{impl}.json")], stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                post(self.url, json.dumps({"data": [["好"]]}).encode(), timeout=30)
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("hub serving did not start: " + self.log_path.read_text()[-2000:]) from None
                time.sleep(0.5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.log.close()


def load(url: str, requests: list[dict], expected: dict[str, str], clients: int) -> dict:
    """Send every request once from `clients` threads; the figures and the correctness accounting."""
    lock, queue, outcomes = threading.Lock(), list(reversed(range(len(requests)))), [None] * len(requests)

    def client():
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            started = time.perf_counter()
            try:
                status, answer = post(url, requests[index]["body"])
            except (OSError, ValueError) as error:  # connection refused/reset, timeout, bad JSON answer
                status, answer = None, {"transport_error": f"{type(error).__name__}: {error}"}
            outcomes[index] = (time.perf_counter() - started, status, answer)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return account(requests, outcomes, expected, wall)


def account(requests: list[dict], outcomes: list, expected: dict[str, str], wall: float) -> dict:
    counts = {"good_answered_right": 0, "good_answered_wrong": 0, "good_got_error": 0, "malformed_got_error": 0,
              "malformed_accepted": 0, "transport_errors": 0}
    texts_answered, examples = 0, []
    for request, (_, status, answer) in zip(requests, outcomes):
        if status is None:
            counts["transport_errors"] += 1
            examples.append(answer["transport_error"])
            continue
        ok = status == 200 and answer is not None and answer.get("status") == "000"
        if request["texts"] is None:
            counts["malformed_got_error" if not ok else "malformed_accepted"] += 1
            continue
        if not ok:
            counts["good_got_error"] += 1
            examples.append(f"HTTP {status}: {(answer or {}).get('msg', '')[:200]}")
        elif answer["results"] == [expected[t] for t in request["texts"]]:
            counts["good_answered_right"] += 1
            texts_answered += len(request["texts"])
        else:
            counts["good_answered_wrong"] += 1
    latencies = sorted(outcome[0] for outcome in outcomes)
    return {"requests": len(requests), "seconds": wall, "requests_per_second": len(requests) / wall,
            "texts_per_second": texts_answered / wall,
            "latency_ms_p50": 1000 * statistics.median(latencies),
            "latency_ms_p99": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            **counts, "all_correct": counts["good_answered_right"] + counts["malformed_got_error"] == len(requests),
            "error_examples": examples[:5]}


def run(impls, count: int, clients: int, config: dict | None = None, window_ms: float = WINDOW_MS,
        workers: int = WORKERS, max_texts: int = 16) -> dict:
    """Prepare a temporary store and HUB_HOME, then serve and load each implementation in turn."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # PaddleHub reads HUB_HOME once, at its import: call this before anything imports paddlehub
        os.environ.update(PADDLE_WWM_HOME=str(root / "store"), HUB_HOME=str(root / "hub"), PADDLE_WWM_OFFLINE="1")
        prepare(root, config)
        texts = reviews()
        requests = make_requests(count, texts, max_texts=max_texts)
        needed = sorted({t for r in requests if r["texts"] for t in r["texts"]})
        for impl in impls:
            if impl == "paddlehub" and not (root / "bench-paddlehub-style").is_dir():
                results[impl] = {"not_run": "PaddleNLP is not installed: PaddleHub's module needs it"}
                continue
            expected = expected_labels(impl, needed)
            with Server(impl, root, window_ms, workers) as server:
                server.wait_ready()
                results[impl] = load(server.url, requests, expected, clients)
    return results


def write_results(path: Path, results: dict, settings: dict) -> None:
    """The rows run replace theirs; rows of implementations not run stay if the settings match."""
    saved = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    kept = saved.get("results", {}) if all(saved.get(k, v) == v for k, v in settings.items()) else {}
    path.write_text(json.dumps({**saved, **settings, "results": {**kept, **results}}, indent=1,
                               ensure_ascii=False) + "\n", "utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--impls", nargs="+", default=list(DEFAULT_IMPLS), choices=IMPLS)
    parser.add_argument("--window-ms", type=float, default=WINDOW_MS, help="the batching window")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers of the *-workers runs")
    parser.add_argument("--max-texts", type=int, default=16, help="texts per request: 1 to this many")
    parser.add_argument("--quick", action="store_true", help="100 requests")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    count = 100 if args.quick else args.requests
    results = run(args.impls, count, args.clients, window_ms=args.window_ms, workers=args.workers,
                  max_texts=args.max_texts)
    print(f"== hub serving on 127.0.0.1, {args.clients} clients, {count} requests of 1-{args.max_texts} texts, "
          "a tenth malformed")
    print(f"  {'':22s}{'req/s':>8}{'texts/s':>9}{'p50 ms':>9}{'p99 ms':>9}  accounting")
    for impl, row in results.items():
        if "not_run" in row:
            print(f"  {impl:22s}not run: {row['not_run']}")
            continue
        print(f"  {impl:22s}{row['requests_per_second']:8.1f}{row['texts_per_second']:9.1f}{row['latency_ms_p50']:9.1f}"
              f"{row['latency_ms_p99']:9.1f}  right {row['good_answered_right']}, wrong {row['good_answered_wrong']}, "
              f"good->error {row['good_got_error']}, malformed->error {row['malformed_got_error']}, "
              f"malformed accepted {row['malformed_accepted']}, transport errors {row['transport_errors']}")
    if args.out:
        write_results(Path(args.out), results, {"clients": args.clients, "requests": count, "served_model": SERVED,
                                                "max_seq_len": MAX_SEQ_LEN, "batch_size": BATCH_SIZE,
                                                "window_ms": args.window_ms, "workers": args.workers,
                                                "max_texts_per_request": args.max_texts})
    return 0 if all(r.get("all_correct", True) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

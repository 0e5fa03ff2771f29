"""What a short pre-training did to a small model, against its random initialisation.

    python benchmarks/pretraining_value.py --work W ...      # keeps W/random-init, W/pretrain-*/final
    python benchmarks/pretraining_diagnosis.py W/random-init W/pretrain-wwm/final W/pretrain-char/final

For each model, on ChnSentiCorp reviews (benchmarks/data/chnsenticorp, or --data):
- attention: the entropy of each layer's attention distributions, as a fraction of the uniform
  distribution's (1.0: every token attends to all tokens equally), for the [CLS] query and for all
  queries, averaged over heads and reviews;
- a linear probe: logistic regression on frozen features (the [CLS] output, the mean of the
  outputs, the mean of the input word embeddings) trained on 500 train reviews, dev accuracy;
- word embeddings: the mean cosine similarity between the embeddings of the tokens the
  fine-tuning data uses, by how often they occur there (a common direction shared by all rows
  shows as a high similarity).
The tables go to stdout in Markdown.
"""
from __future__ import annotations

import argparse
import collections
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT / "benchmarks" / "data" / "chnsenticorp"
MAX_SEQ_LEN = 64


def read_rows(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [(int(label), text) for label, text in (line.split("\t", 1) for line in lines if line.strip())]


def encode(tokenizer, texts):
    return tokenizer(texts, max_seq_len=MAX_SEQ_LEN, padding="longest", return_tensors="pd")


def attention_entropy(model, encoded) -> list[tuple[float, float]]:
    """Per layer: (mean normalised entropy of the [CLS] query, of all queries)."""
    import paddle

    from paddle_wwm.modeling.bert import dense, extended_attention_mask

    lengths = encoded["attention_mask"].numpy().sum(1)
    out = []
    with paddle.no_grad():
        hidden = model.embeddings(encoded["input_ids"], encoded["token_type_ids"])
        bias = extended_attention_mask(encoded["attention_mask"], hidden.dtype)
        for layer in model.layers:
            a = layer.attention
            qkv = dense(a.qkv, hidden).numpy().reshape(*hidden.shape[:2], 3, a.num_heads, a.head_size)
            query, key = qkv[:, :, 0].transpose(0, 2, 1, 3), qkv[:, :, 1].transpose(0, 2, 1, 3)
            scores = query @ key.transpose(0, 1, 3, 2) / math.sqrt(a.head_size) + bias.numpy()
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            entropy = -(probs * np.log(probs + 1e-12)).sum(-1) / np.log(lengths)[:, None, None]  # [B, H, S]
            everyone = np.mean([entropy[b, :, :n].mean() for b, n in enumerate(lengths)])
            out.append((float(entropy[:, :, 0].mean()), float(everyone)))
            hidden = layer(hidden, bias)
    return out


def features(model, tokenizer, texts) -> dict:
    import paddle

    parts = collections.defaultdict(list)
    table = model.embeddings.word_embeddings.weight.numpy()
    for start in range(0, len(texts), 100):
        encoded = encode(tokenizer, texts[start:start + 100])
        with paddle.no_grad():
            sequence, _ = model(encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"])
        mask = encoded["attention_mask"].numpy()[:, :, None]
        sequence = sequence.numpy()
        parts["[CLS] output"].append(sequence[:, 0])
        parts["mean of outputs"].append((sequence * mask).sum(1) / mask.sum(1))
        parts["mean of input embeddings"].append((table[encoded["input_ids"].numpy()] * mask).sum(1) / mask.sum(1))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def probe(train_x, train_y, dev_x, dev_y) -> float:
    from sklearn.linear_model import LogisticRegression

    mean, scale = train_x.mean(0), train_x.std(0) + 1e-6
    classifier = LogisticRegression(max_iter=2000).fit((train_x - mean) / scale, train_y)
    return 100 * classifier.score((dev_x - mean) / scale, dev_y)


def mean_cosine(rows: np.ndarray) -> float:
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    n = len(unit)
    return float(((unit @ unit.T).sum() - n) / (n * n - n))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model directories (encoder weights in our layout)")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--probe-train", type=int, default=500)
    args = parser.parse_args()
    from paddle_wwm.modeling import BertModel
    from paddle_wwm.tokenization import BertTokenizer

    tokenizer = BertTokenizer()
    train = read_rows(Path(args.data) / "train.tsv")
    train = [train[i] for i in sorted(np.random.default_rng(0).choice(len(train), args.probe_train, replace=False))]
    dev = read_rows(Path(args.data) / "dev.tsv")
    counts = collections.Counter(i for _, text in read_rows(Path(args.data) / "train.tsv")
                                 for i in tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text)))
    buckets = {"100+": [i for i, c in counts.items() if c >= 100],
               "10-99": [i for i, c in counts.items() if 10 <= c < 100],
               "1-9": [i for i, c in counts.items() if c < 10]}
    attention_sample = encode(tokenizer, [text for _, text in dev[:200]])
    rows = {"attention": [], "probe": [], "embeddings": []}
    for directory in args.models:
        model = BertModel.from_pretrained(directory)
        model.eval()
        name = "/".join(Path(directory).parts[-2:])
        layers = attention_entropy(model, attention_sample)
        rows["attention"].append(f"| {name} | " + " | ".join(f"{c:.2f} / {a:.2f}" for c, a in layers) + " |")
        train_f = features(model, tokenizer, [t for _, t in train])
        dev_f = features(model, tokenizer, [t for _, t in dev])
        train_y, dev_y = np.array([y for y, _ in train]), np.array([y for y, _ in dev])
        rows["probe"].append(f"| {name} | " + " | ".join(f"{probe(train_f[k], train_y, dev_f[k], dev_y):.1f}"
                                                         for k in train_f) + " |")
        table = model.embeddings.word_embeddings.weight.numpy()
        rows["embeddings"].append(f"| {name} | " + " | ".join(
            f"{mean_cosine(table[ids]):.2f} ({np.linalg.norm(table[ids], axis=1).mean():.2f})"
            for ids in buckets.values()) + " |")
    n_layers = len(rows["attention"][0].split("|")) - 3
    print("Attention entropy / uniform, [CLS] query / all queries (200 dev reviews)\n")
    print("| model | " + " | ".join(f"layer {i + 1}" for i in range(n_layers)) + " |")
    print("|---|" + "---|" * n_layers + "\n" + "\n".join(rows["attention"]))
    print(f"\nLinear probe on frozen features, {args.probe_train} train reviews, dev accuracy ({len(dev)} reviews)\n")
    print("| model | [CLS] output | mean of outputs | mean of input embeddings |\n|---|---|---|---|")
    print("\n".join(rows["probe"]))
    print("\nWord embeddings: mean pairwise cosine (mean norm) of the tokens of ChnSentiCorp train, "
          "by occurrences there\n")
    print("| model | " + " | ".join(f"{k} ({len(v):,} tokens)" for k, v in buckets.items()) + " |\n|---|---|---|---|")
    print("\n".join(rows["embeddings"]))


if __name__ == "__main__":
    main()

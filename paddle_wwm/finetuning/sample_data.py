"""Task data made from what the package ships, for the quickstart, the tests and the benchmarks:
ChnSentiCorp-format sentiment data from the shipped reviews (paddle_wwm/data/sentiment_{pos,neg}.txt,
which include ChnSentiCorp's hotel reviews)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np


def write_sentiment_reviews(out: str | Path, train: int, dev: int, seed: int = 0) -> Path:
    """``train.tsv`` / ``dev.tsv`` in ChnSentiCorp's format (header ``label text_a``): unique
    reviews, whitespace collapsed, shuffled with ``seed``; returns the directory."""
    data = resources.files("paddle_wwm").joinpath("data")
    rows = []
    for label, name in ((1, "sentiment_pos.txt"), (0, "sentiment_neg.txt")):
        lines = {" ".join(line.split()) for line in data.joinpath(name).read_text(encoding="utf-8").splitlines()}
        rows += [(label, text) for text in sorted(lines) if text]
    if train + dev > len(rows):
        raise ValueError(f"asked for {train + dev} reviews, the shipped files hold {len(rows)}")
    rng = np.random.default_rng(seed)
    rows = [rows[i] for i in rng.permutation(len(rows))][:train + dev]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.tsv", rows[:train]), ("dev.tsv", rows[train:])):
        (out / name).write_text("label\ttext_a\n" + "".join(f"{label}\t{text}\n" for label, text in part),
                                encoding="utf-8")
    return out

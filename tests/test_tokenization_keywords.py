"""The keywords users bring from PaddleNLP and transformers: same results as those libraries.

References: transformers' BertTokenizerFast (offsets, pre-split words) and slow BertTokenizer on the
shipped vocabulary, PaddleNLP's BertTokenizer for ``seq_len`` and tokenizer directories. Every
call passes ``truncation`` explicitly: the defaults differ on purpose (docs/tokenization.md).
"""
from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import transformers

from paddle_wwm.tokenization import DEFAULT_VOCAB_FILE, BertTokenizer, EncodingOptions, VocabError

TEXTS = [
    "使用语言模型来预测下一个词的概率。",
    "Paddle is great, isn't it?",
    "我爱Paddle2024！Café naïve 中英mixed文本 [MASK] 你好",
    "  \t\n\u3000  ",
    "",
    "三国演义第一回：宴桃园豪杰三结义，斩黄巾英雄首立功。" * 30,  # over 512 tokens
    "话说天下大势，分久必合，合久必分。Liu Bei（刘备）字玄德。",
]
PAIRS = list(reversed(TEXTS))
MODEL_KEYS = ("input_ids", "token_type_ids", "attention_mask", "offset_mapping")


@pytest.fixture(scope="module")
def ours():
    return BertTokenizer()


@pytest.fixture(scope="module")
def hf_fast():
    return transformers.BertTokenizerFast(vocab_file=str(DEFAULT_VOCAB_FILE), model_max_length=512)


@pytest.fixture(scope="module")
def hf_slow():
    return transformers.BertTokenizer(vocab_file=str(DEFAULT_VOCAB_FILE), model_max_length=512)


@pytest.fixture(scope="module")
def paddlenlp_tokenizer():
    from paddlenlp.transformers import BertTokenizer as PaddleNLPBertTokenizer

    return PaddleNLPBertTokenizer(vocab_file=str(DEFAULT_VOCAB_FILE))


def _words(text: str) -> list[str]:
    """A pre-split form of ``text``: whitespace-separated words, CJK runs cut in pairs."""
    out = []
    for word in text.split():
        out += [word[i:i + 2] for i in range(0, len(word), 2)]
    return out


def _plain(encoding) -> dict:
    """A BatchEncoding or our dict as plain lists (arrays and offset tuples become lists)."""
    return {k: _lists(v) for k, v in dict(encoding).items()}


def _lists(value):
    if hasattr(value, "tolist"):
        value = value.tolist()  # object arrays (ragged batches) hold arrays
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def _too_long(want: dict, max_length: int) -> bool:
    ids = want["input_ids"]
    rows = ids if ids and isinstance(ids[0], list) else [ids]
    return any(len(row) > max_length for row in rows)


CORE = list(itertools.product(
    [None, 8, 64],  # max_length (None: the model's 512)
    [True, "longest_first", "only_first", "only_second", False],  # truncation
    [False, True, "longest", "max_length"],  # padding
    ["single", "batch", "single pair", "batch pair"],
    [False, True],  # is_split_into_words
))
FLAGS = list(itertools.product(
    [False, True],  # return_offsets_mapping
    [None, False],  # return_attention_mask
    [None, False],  # return_token_type_ids
    [None, "np"],  # return_tensors
))


@pytest.mark.parametrize("case", range(len(CORE)))
def test_keywords_match_transformers(ours, hf_fast, hf_slow, case):
    max_length, truncation, padding, shape, split = CORE[case]
    batch, pair = shape.startswith("batch"), shape.endswith("pair")
    texts = [_words(t) for t in TEXTS] if split else list(TEXTS)
    pairs = [_words(t) for t in PAIRS] if split else list(PAIRS)
    for i in range(0, len(TEXTS), 3 if batch else 1):  # singles: every text; batches of three
        first = texts[i:i + 3] if batch else texts[i]
        second = (pairs[i:i + 3] if batch else pairs[i]) if pair else None
        if batch and len(first) < 2:
            continue
        offsets, mask, type_ids, tensors = FLAGS[(case + i) % len(FLAGS)]
        if tensors and not padding and batch:
            tensors = None  # ragged batches cannot be arrays (tested in test_tokenization)
        kw = dict(max_length=max_length, truncation=truncation, padding=padding, is_split_into_words=split,
                  return_attention_mask=mask, return_token_type_ids=type_ids, return_tensors=tensors)
        try:
            want = _plain(hf_fast(first, second, return_offsets_mapping=offsets, **kw))
        except Exception as e:  # noqa: BLE001 - the Rust side raises a bare Exception
            assert str(e).startswith("Truncation error"), e
            want = None
        limit = 512 if max_length is None else max_length
        if want is None or _too_long(want, limit):
            # transformers raises (fast) or logs an error and returns more than max_length
            # tokens (slow); we raise
            with pytest.raises(ValueError, match="max_seq_len"):
                ours(first, second, return_offsets_mapping=offsets, **kw)
            continue
        got = _plain(ours(first, second, return_offsets_mapping=offsets, **kw))
        assert set(got) <= set(MODEL_KEYS)
        # the slow reference (no offsets)
        slow = _plain(hf_slow(_no_empty_lists(first, split), _no_empty_lists(second, split), **kw))
        without_offsets = {k: v for k, v in got.items() if k != "offset_mapping"}
        assert without_offsets == slow, (case, i, kw)
        if {k: v for k, v in want.items() if k != "offset_mapping"} == slow:
            assert got == want, (case, i, kw)
        elif pair and not batch and _plain(hf_fast(first, None, **kw)) == {
                k: v for k, v in want.items() if k != "offset_mapping"}:
            # transformers' fast tokenizer drops a single empty pair text ("if text_pair" in its
            # _encode_plus); the slow one, PaddleNLP and we encode it as [CLS] A [SEP] [SEP]
            assert second in ("", []), (case, i, kw)
        else:
            # the other known disagreement of transformers' two tokenizers: which sequence of
            # a pair keeps the odd token when longest_first cuts both (test_truncated_pair_offsets)
            assert pair and truncation in (True, "longest_first"), (case, i, kw)


def _no_empty_lists(example, split: bool):
    """The slow tokenizer rejects an empty list of words; [""] means the same to the others."""
    if not split or example is None:
        return example
    if example and isinstance(example[0], list):
        return [words or [""] for words in example]
    return example or [""]


def test_truncated_pair_offsets(ours, hf_fast, hf_slow, paddlenlp_tokenizer):
    """longest_first on a pair follows the slow tokenizer (the first text keeps the odd token; the
    fast one gives it to the second); the offsets are those of the untruncated tokens kept."""
    checked_odd = 0
    for text, pair in zip(TEXTS, PAIRS):
        if pair == "":
            continue  # transformers' fast tokenizer drops an empty pair text
        full = hf_fast(text, pair, return_offsets_mapping=True)
        types, offsets = full["token_type_ids"], full["offset_mapping"]
        first = [o for t, o in zip(types[1:-1], offsets[1:-1]) if t == 0][:-1]  # without the middle [SEP]
        second = [o for t, o in zip(types, offsets) if t == 1][:-1]
        for max_length in (9, 16, 17, 64, 65):
            got = ours(text, pair, max_length=max_length, truncation="longest_first", return_offsets_mapping=True)
            assert got["input_ids"] == hf_slow(text, pair, max_length=max_length, truncation="longest_first")["input_ids"]
            assert got["input_ids"] == paddlenlp_tokenizer(text, pair, max_length=max_length,
                                                           truncation="longest_first")["input_ids"]
            n_first = got["token_type_ids"].count(0) - 2
            n_second = len(got["input_ids"]) - n_first - 3
            assert got["offset_mapping"] == [(0, 0), *first[:n_first], (0, 0), *second[:n_second], (0, 0)]
            fast_ids = hf_fast(text, pair, max_length=max_length, truncation="longest_first")["input_ids"]
            if fast_ids != got["input_ids"]:
                assert len(fast_ids) == len(got["input_ids"]) and max_length % 2 == 0  # 3 specials: odd rest
                checked_odd += 1
    assert checked_odd > 0


def test_length_and_seq_len(ours, hf_fast, hf_slow, paddlenlp_tokenizer):
    texts = ["我爱你", "Paddle is great!", ""]
    got = ours(texts, padding="longest", return_length=True, truncation=True)
    assert got["length"] == got["seq_len"] == [5, 8, 2] == [sum(m) for m in got["attention_mask"]]
    # PaddleNLP and transformers' slow tokenizer count the tokens before batch padding;
    # transformers' fast one counts the padding too (then it equals the padded width)
    pn = paddlenlp_tokenizer(texts, padding="longest", return_length=True)
    assert pn["seq_len"] == pn["length"] == got["length"]
    assert hf_slow(texts, padding="longest", return_length=True)["length"] == got["length"]
    assert hf_fast(texts, padding="longest", return_length=True)["length"] == [8, 8, 8]
    # without padding all agree, single texts included
    assert ours(texts, return_length=True)["length"] == hf_fast(texts, return_length=True)["length"]
    # a single text: an int, as in PaddleNLP and transformers' slow tokenizer (the fast one: [5])
    assert ours("我爱你", return_length=True)["length"] == 5 == hf_slow("我爱你", return_length=True)["length"]
    assert paddlenlp_tokenizer("我爱你", return_length=True)["seq_len"] == 5
    arrays = ours(texts, padding="longest", return_length=True, return_tensors="np")
    assert arrays["length"].tolist() == [5, 8, 2] and arrays["length"].dtype == np.int64


def test_paddlenlp_keywords(ours, paddlenlp_tokenizer):
    """PaddleNLP's spelling (max_seq_len, return_attention_mask=True) gives PaddleNLP's ids."""
    # PaddleNLP's defaults differ: no attention_mask, no truncation (docs/tokenization.md)
    assert "attention_mask" not in paddlenlp_tokenizer("我爱你")
    assert len(paddlenlp_tokenizer(TEXTS[5])["input_ids"]) > 512
    for text, pair in zip(TEXTS, PAIRS):
        for max_seq_len in (16, 128):
            want = paddlenlp_tokenizer(text, pair, max_seq_len=max_seq_len, truncation=True,
                                       return_attention_mask=True, padding="max_length")
            got = ours(text, pair, max_seq_len=max_seq_len, return_attention_mask=True, padding="max_length")
            assert got == {k: want[k] for k in got}


def test_aliases_and_option_errors(ours):
    assert ours("我爱你", max_length=4) == ours("我爱你", max_seq_len=4) == ours("我爱你", max_seq_len=4, max_length=4)
    assert ours("我爱你", return_offsets_mapping=True) == ours("我爱你", return_offsets=True)
    with pytest.raises(ValueError, match="max_seq_len=4 and max_length=5 disagree"):
        ours("我爱你", max_seq_len=4, max_length=5)
    with pytest.raises(ValueError, match="return_offsets=False and return_offsets_mapping=True disagree"):
        ours("我爱你", return_offsets=False, return_offsets_mapping=True)
    with pytest.raises(ValueError, match="max_length"):
        ours("我爱你", max_length=-1)
    with pytest.raises(TypeError, match="is_split_into_words=True, text must be a list of words"):
        ours("我爱你", is_split_into_words=True)
    with pytest.raises(TypeError, match=r"text\[1\] must be a str"):
        ours(["我", 3])
    assert ours.encode(["我", "爱你"], is_split_into_words=True) == ours(["我", "爱你"], is_split_into_words=True)
    with pytest.raises(TypeError, match="encode takes one example"):
        ours.encode([["我"], ["爱你"]], is_split_into_words=True)
    with pytest.raises(TypeError, match="text_pair must be one example"):
        ours("我", ["你"])
    with pytest.raises(TypeError, match="unexpected keyword"):
        ours("我", return_overflowing_tokens=True)
    opts = EncodingOptions.from_keywords(512, max_length=8, truncation=True, padding=True)
    assert (opts.max_length, opts.truncation, opts.padding) == (8, "longest_first", "longest")
    with pytest.raises(AttributeError):
        opts.max_length = 9  # a frozen record


def test_defaults_that_differ_from_transformers(ours, hf_fast):
    """Documented differences: without ``truncation`` we still truncate to max_length (transformers
    only does when no padding is asked), and an over-long input without truncation is an error."""
    long_text = TEXTS[5]
    assert len(ours(long_text)["input_ids"]) == 512
    assert len(hf_fast(long_text)["input_ids"]) > 512
    assert ours("我爱你我爱你", max_length=4, padding="max_length")["input_ids"] == [101, 2769, 4263, 102]
    assert len(hf_fast("我爱你我爱你", max_length=4, padding="max_length")["input_ids"]) == 8
    with pytest.raises(ValueError, match="truncation"):
        ours(long_text, truncation=False)


def test_return_tensors_pd_single_and_words(ours):
    import paddle

    out = ours(["我爱", "Paddle"], is_split_into_words=True, return_tensors="pd", return_length=True)
    assert isinstance(out["input_ids"], paddle.Tensor) and out["input_ids"].shape == [1, 7]
    assert out["length"].numpy().tolist() == [7]


# --------------------------------------------------------------------------------------------
# save_pretrained / from_pretrained across the three libraries
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("do_lower_case", [True, False])
def test_save_pretrained_loads_everywhere(tmp_path, do_lower_case):
    from paddlenlp.transformers import BertTokenizer as PaddleNLPBertTokenizer

    tok = BertTokenizer(do_lower_case=do_lower_case, max_len=128)
    paths = tok.save_pretrained(tmp_path / "tok")
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == [
        "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    assert (tmp_path / "tok" / "vocab.txt").read_bytes() == DEFAULT_VOCAB_FILE.read_bytes()
    config = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["do_lower_case"] is do_lower_case and config["model_max_length"] == 128

    again = BertTokenizer.from_pretrained(tmp_path / "tok")
    assert (again.do_lower_case, again.max_len) == (do_lower_case, 128)
    hf_slow = transformers.BertTokenizer.from_pretrained(str(tmp_path / "tok"))
    hf_fast = transformers.BertTokenizerFast.from_pretrained(str(tmp_path / "tok"))
    auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    pn = PaddleNLPBertTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert hf_slow.model_max_length == hf_fast.model_max_length == 128
    for text, pair in zip(TEXTS, PAIRS):
        want = again(text, pair, truncation=True)["input_ids"]
        assert want == tok(text, pair, truncation=True)["input_ids"]
        for other in (hf_slow, hf_fast, auto, pn):
            if pair == "" and other.is_fast:
                continue  # transformers' fast tokenizer drops a single empty pair text (see above)
            assert other(text, pair, truncation=True)["input_ids"] == want, type(other).__name__
    # a directory written by transformers loads here with its settings
    hf_slow.save_pretrained(str(tmp_path / "hf"))
    assert BertTokenizer.from_pretrained(tmp_path / "hf").do_lower_case is do_lower_case


def test_tokenizer_config_errors(tmp_path):
    BertTokenizer().save_pretrained(tmp_path)
    config_file = tmp_path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    assert BertTokenizer.from_pretrained(tmp_path, max_len=64).max_len == 64  # keywords win
    config_file.write_text(json.dumps({**config, "unk_token": "<unk>", "tokenize_chinese_chars": False}),
                           encoding="utf-8")
    with pytest.raises(VocabError, match=r"tokenizer_config\.json.*unk_token is '<unk>'.*tokenize_chinese_chars"):
        BertTokenizer.from_pretrained(tmp_path)
    config_file.write_text("{not json", encoding="utf-8")
    with pytest.raises(VocabError, match="not a valid JSON"):
        BertTokenizer.from_pretrained(tmp_path)
    with pytest.raises(NotADirectoryError):
        BertTokenizer().save_pretrained(config_file)


# --------------------------------------------------------------------------------------------
# Importing the tokenizer does not import paddle
# --------------------------------------------------------------------------------------------

_USE_TOKENIZER = (
    "import sys\n"
    "from paddle_wwm.tokenization import BertTokenizer\n"
    "out = BertTokenizer()(['我爱你', 'Paddle'], padding=True, return_tensors='np')\n"
    "assert out['input_ids'].shape == (2, 5), out\n"
    "print(sorted(m for m in sys.modules if m == 'paddle' or m.startswith('paddle.')))\n"
)


def _modules_after(code: str) -> str:
    """What ``code`` prints, run in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_tokenizer_leaves_paddle_out():
    assert _modules_after(_USE_TOKENIZER) == "[]"


def test_the_tokenization_package_itself_imports_no_paddle():
    """The same with paddle_wwm/__init__.py bypassed: whatever the top-level package does, the
    tokenizer's own modules never import paddle (only return_tensors='pd' does, when called)."""
    bypass = (
        "import sys, types, importlib.util\n"
        "spec = importlib.util.find_spec('paddle_wwm')\n"
        "package = types.ModuleType('paddle_wwm')\n"
        "package.__path__ = list(spec.submodule_search_locations)\n"
        "sys.modules['paddle_wwm'] = package\n"
    )
    assert _modules_after(bypass + _USE_TOKENIZER) == "[]"
    assert "'paddle'" in _modules_after(bypass + _USE_TOKENIZER + "BertTokenizer()('x', return_tensors='pd')\n"
                                        "print(sorted(m for m in sys.modules if m == 'paddle'))\n")

